/* log.c: see log.h. Each line is built in one buffer and written with one
 * write(2), so lines from concurrent goroutines never interleave; a line
 * longer than the buffer is cut, its last value marked with "...". */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static atomic_int level = LOG_INFO;
static atomic_int format = LOG_TEXT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};
static char node[72]; /* log_set_node's, "" when not set; set before other threads log */

#define LINE_MAX_BYTES 2048

static int parse(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int log_level_parse(const char *s)
{
    return parse(s, level_names, 4);
}

int log_format_parse(const char *s)
{
    return parse(s, format_names, 2);
}

void log_set_level(int l)
{
    atomic_store(&level, l);
}

void log_set_format(int f)
{
    atomic_store(&format, f);
}

void log_set_node(const char *name)
{
    snprintf(node, sizeof node, "%s", name ? name : "");
}

int log_enabled(int l)
{
    return l >= atomic_load(&level);
}

const char *log_i64(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

/* A line being built; `full` once the next byte would not fit (the room
 * for the closing bytes is kept aside). */
typedef struct line {
    char b[LINE_MAX_BYTES];
    size_t n;
    bool full;
} line;

#define LINE_RESERVE 8 /* '..."' or '"}' and the newline */

static void put(line *l, const char *s, size_t n)
{
    if (l->full)
        return;
    if (n > sizeof l->b - LINE_RESERVE - l->n) {
        n = sizeof l->b - LINE_RESERVE - l->n;
        l->full = true;
    }
    memcpy(l->b + l->n, s, n);
    l->n += n;
}

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Does a text value need quotes in logfmt? */
static bool needs_quotes(const char *v, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return true;
    }
    return false;
}

/* Writes v escaped for a quoted string of either format: quote and
 * backslash escaped, control characters as \n, \t or \u00XX, bytes that
 * are not UTF-8 as \ufffd. */
static void put_escaped(line *l, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && !l->full) {
        unsigned char c = (unsigned char)v[i];
        if (c >= 0x80) { /* a UTF-8 sequence, whole or replaced */
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (i + len <= n && len > 1 && goc_utf8_valid((const uint8_t *)v + i, len))
                put(l, v + i, len);
            else
                puts_(l, "\\ufffd"), len = 1;
            i += len;
            continue;
        }
        char esc[8];
        if (c == '"' || c == '\\')
            esc[0] = '\\', esc[1] = (char)c, esc[2] = 0;
        else if (c == '\n')
            strcpy(esc, "\\n");
        else if (c == '\t')
            strcpy(esc, "\\t");
        else if (c < 0x20 || c == 0x7f)
            snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            esc[0] = (char)c, esc[1] = 0;
        puts_(l, esc);
        i++;
    }
}

static void put_field(line *l, int fmt, bool first, const char *key, const char *v)
{
    size_t n = strlen(v);
    if (fmt == LOG_JSON) {
        puts_(l, first ? "{\"" : ",\"");
        puts_(l, key);
        puts_(l, "\":\"");
        put_escaped(l, v, n);
        put(l, "\"", 1);
        return;
    }
    if (!first)
        put(l, " ", 1);
    puts_(l, key);
    put(l, "=", 1);
    if (!needs_quotes(v, n)) {
        put(l, v, n);
        return;
    }
    put(l, "\"", 1);
    put_escaped(l, v, n);
    put(l, "\"", 1);
}

static void start(line *l, int fmt, int lv)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    l->n = 0;
    l->full = false;
    put_field(l, fmt, true, "time", ts);
    put_field(l, fmt, false, "level", level_names[lv]);
    if (node[0])
        put_field(l, fmt, false, "node", node);
}

static void finish(line *l, int fmt)
{
    if (l->full)
        memcpy(l->b + l->n, "...", 3), l->n += 3;
    if (l->full && fmt == LOG_JSON)
        l->b[l->n++] = '"'; /* close the value that was cut */
    if (fmt == LOG_JSON)
        l->b[l->n++] = '}';
    l->b[l->n++] = '\n';
    (void)!write(2, l->b, l->n);
}

void log_msg(int lv, const char *fmt, ...)
{
    if (!log_enabled(lv))
        return;
    char text[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int f = atomic_load(&format);
    line l;
    start(&l, f, lv);
    put_field(&l, f, false, "msg", text);
    finish(&l, f);
}

void log_event(int lv, const char *event, ...)
{
    if (!log_enabled(lv))
        return;
    int f = atomic_load(&format);
    line l;
    start(&l, f, lv);
    put_field(&l, f, false, "event", event);
    va_list ap;
    va_start(ap, event);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        put_field(&l, f, false, k, v ? v : "");
    }
    va_end(ap);
    finish(&l, f);
}
