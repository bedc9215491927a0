/* log.h: the server's log: one line per event on stderr, filtered by level
 * (--log-level). Lines: "2026-11-27T07:59:14.123Z info  listening tcp ...". */
#ifndef GOCD_LOG_H
#define GOCD_LOG_H

enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn" or "error"; -1 otherwise. */
int log_level_parse(const char *s);
void log_set_level(int level);
/* Names this server in every line, after the level (--node); NULL or ""
 * for none. Call before other threads log. */
void log_set_node(const char *name);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) (log_enabled(LOG_DEBUG) ? log_msg(LOG_DEBUG, __VA_ARGS__) : (void)0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
