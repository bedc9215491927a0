/* log.h: the server's log: one line per event on stderr, filtered by level
 * (--log-level), as key=value pairs (logfmt, the default) or as one JSON
 * object per line (--log-format json):
 *
 *   time=2026-12-08T07:59:14.123Z level=info msg="listening tcp 127.0.0.1:7000"
 *   {"time":"2026-12-08T07:59:14.123Z","level":"debug","event":"rpc","method":"echo",...}
 *
 * Values are quoted and escaped as the format needs: a control character,
 * a quote or a byte that is not UTF-8 never reaches the log as it came, so
 * a peer's bytes (a method name, a path) cannot forge or break a line.
 */
#ifndef GOCD_LOG_H
#define GOCD_LOG_H

enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum { LOG_TEXT, LOG_JSON };

/* Parses "debug", "info", "warn" or "error" / "text" or "json"; -1
 * otherwise. */
int log_level_parse(const char *s);
int log_format_parse(const char *s);
void log_set_level(int level);
void log_set_format(int format);
/* Names this server in every line, as the field node (--node); NULL or ""
 * for none. Call before other threads log. */
void log_set_node(const char *name);
int log_enabled(int level);

/* A message: the event "msg" with the formatted text as its value. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An event with fields: key, value, key, value, ..., NULL (every value a
 * string; log_i64 formats a number into the caller's small buffer). */
void log_event(int level, const char *event, ...) __attribute__((sentinel));
const char *log_i64(char buf[24], long long v);

#define log_debug(...) (log_enabled(LOG_DEBUG) ? log_msg(LOG_DEBUG, __VA_ARGS__) : (void)0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
