/* redis_internal.h: the Redis client's private parts, shared by
 * redis_conn.c (one connection) and redis_pool.c (the pool). */
#ifndef GOCD_REDIS_INTERNAL_H
#define GOCD_REDIS_INTERNAL_H

#include <stdatomic.h>

#include "redis.h"

struct redis_conn {
    goc_conn *conn;     /* owned */
    char *rbuf;         /* bytes read: rbuf[0..rlen), goc_malloc'd, rcap bytes */
    size_t rlen, rcap;
    size_t taken;       /* rbuf's first bytes that hold the reply returned last */
    size_t need;        /* resp_parse's hint: no look before rlen reaches it */
    char *wbuf;         /* the command being written, wcap bytes */
    size_t wcap;
    resp_value *nodes;  /* the last reply's nodes, ncap of them */
    size_t ncap;
    uint64_t gen;       /* the client's generation when this was dialed (redis_pool.c) */
    _Atomic bool broken; /* an error made it unusable (a subscriber's reader and writer both look) */
};

#endif
