/* pconn.h: what the two persistent transports (framed TCP, framed_conn.c;
 * WebSocket, ws_conn.c) share: a connection that members' pushes reach
 * from other goroutines, that the chat may kick as too slow, whose writer
 * may fail, and whose reader must then wake up and close it.
 *
 * The reader parks in a read; the others wake it by setting its read
 * deadline to the past (1 ns after the clock's start). So the reader's own
 * deadlines (a frame's --read-timeout, a WebSocket's ping interval) go
 * through pconn_read_deadline, which never undoes such a wake-up, nor
 * shutdown's (conn_read_deadline), and never passes the moment the
 * connection's token expires (auth: with --auth-secret, a connection is
 * closed within a second of its token's exp; auth.login extends it).
 *
 * Invariants: slow and dead only ever go from false to true; once either
 * is set, the read deadline stays in the past.
 */
#ifndef GOCD_PCONN_H
#define GOCD_PCONN_H

#include <goc/goc.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "auth.h"

/* How long a closing connection's writer may take to flush what is queued
 * (a peer that does not read, such as one kicked as too slow, must not
 * keep the writer, and the connection, alive). */
#define PCONN_CLOSE_TIMEOUT (2 * GOC_SECOND)

typedef struct pconn {
    goc_conn *conn;    /* the socket: deadlines */
    _Atomic bool slow; /* kicked: its outbox overflowed */
    _Atomic bool dead; /* a write failed */
    auth_session auth; /* who it is (auth.h); the reader's alone */
} pconn;

/* Marks p too slow and wakes its reader. Never blocks. */
void pconn_kick(pconn *p);
/* Marks p's socket failed (a write did) and wakes its reader. */
void pconn_fail(pconn *p);
/* True once p was kicked or failed: the reader closes it. */
bool pconn_over(pconn *p);
/* The reader's own read deadline (0: none), capped by shutdown's and by
 * the token's expiry, and never undoing a kick or a failure. */
void pconn_read_deadline(pconn *p, int64_t deadline);

#endif
