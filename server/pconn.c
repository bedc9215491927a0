/* pconn.c: see pconn.h. */
#include "pconn.h"

#include "server.h"

/* A deadline already past: the parked read returns -ETIMEDOUT at once. */
#define WAKE_NOW 1

void pconn_kick(pconn *p)
{
    atomic_store(&p->slow, true);
    goc_conn_set_read_deadline(p->conn, WAKE_NOW);
}

void pconn_fail(pconn *p)
{
    atomic_store(&p->dead, true);
    goc_conn_set_read_deadline(p->conn, WAKE_NOW);
}

bool pconn_over(pconn *p)
{
    return atomic_load(&p->slow) || atomic_load(&p->dead);
}

/* The load of slow/dead follows the set: a kick either came before it (and
 * is seen here) or after it (and sets its own deadline, which wins). */
void pconn_read_deadline(pconn *p, int64_t deadline)
{
    if (p->auth.ok && (deadline == 0 || p->auth.expires < deadline))
        deadline = p->auth.expires > WAKE_NOW ? p->auth.expires : WAKE_NOW;
    conn_read_deadline(p->conn, deadline);
    if (pconn_over(p))
        goc_conn_set_read_deadline(p->conn, WAKE_NOW);
}
