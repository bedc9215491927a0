/* buf.c: the growable buffer of buf.h. */
#include <goc/malloc.h>

#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BUF_FIRST 256 /* bytes of a buffer's first allocation, at least */

int buf_reserve(buf_t *b, size_t n)
{
    if (b->err)
        return b->err;
    if (n < b->cap - b->len) /* room for n bytes and the NUL */
        return 0;
    if (n > SIZE_MAX / 2 - b->len)
        return b->err = -ENOMEM;
    size_t cap = b->cap ? b->cap : BUF_FIRST;
    while (cap <= b->len + n)
        cap *= 2;
    char *p = goc_realloc(b->data, cap);
    if (!p)
        return b->err = -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return b->err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int buf_str(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    if (b->err)
        return b->err;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->err = -ENOMEM; /* an encoding error: nothing sensible to append */
    if ((size_t)n >= b->cap - b->len) { /* did not fit: grow, then print again */
        if (buf_reserve(b, (size_t)n))
            return b->err;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = 0;
}

void buf_free(buf_t *b)
{
    goc_free(b->data);
    *b = (buf_t){0};
}
