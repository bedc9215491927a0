/* runq.h: the local and global run queues (runq.c). */
#ifndef GOC_RUNQ_H
#define GOC_RUNQ_H

#include "runtime.h"

void goc__glist_push(goc__glist *l, goc_g *g);
goc_g *goc__glist_pop(goc__glist *l);

/* Local queue of p; only p's owner may put. */
void goc__runqput(goc_p *p, goc_g *g, bool next);
/* Owner's get: runnext first (*inherit set), then the ring's head. */
goc_g *goc__runqget(goc_p *p, bool *inherit);
/* Owner's get that serves the ring before runnext. */
goc_g *goc__runqget_fair(goc_p *p);
/* Steals half of victim's queue into p's; returns one G to run. */
goc_g *goc__runqsteal(goc_p *p, goc_p *victim, bool stealnext);
int goc__runq_len(goc_p *p);

/* Global queue; sched.lock held for all three. */
void goc__globrunqput(goc_g *g);
void goc__globrunqputbatch(goc__glist *batch);
/* Takes a fair share (at most max when max > 0) into p's queue, returns one. */
goc_g *goc__globrunqget(goc_p *p, int32_t max);

#endif
