/* mutex.c: sync.Mutex and sync.RWMutex (Go's src/sync/mutex.go and
 * rwmutex.go; doc/go-rules.md 4 and 5.1).
 *
 * Mutex: normal mode lets a newcomer (already running, maybe spinning)
 * beat a woken waiter; a waiter that failed to get the lock for over 1 ms
 * switches the mutex to starvation mode, where Unlock hands ownership to the
 * first waiter directly and newcomers queue at the tail. The last waiter,
 * or one that waited under 1 ms, switches it back.
 *
 * Invariants (state word): Locked = held; Woken = a goroutine is awake
 * trying to take it, so Unlock need not wake another; Starving = hand-off
 * mode, never set together with Woken once a waiter owns it; state >> 3 =
 * goroutines blocked (or about to block) on sema.
 */
#include "sync_internal.h"

#include <unistd.h>

enum {
    MUTEX_LOCKED = 1,
    MUTEX_WOKEN = 2,
    MUTEX_STARVING = 4,
    MUTEX_WAITER_SHIFT = 3,
};

#define STARVATION_THRESHOLD_NS 1000000
#define ACTIVE_SPIN 4
#define ACTIVE_SPIN_CNT 30

static int ncpu_cached;

static int ncpu(void)
{
    int n = LOAD_RELAXED(&ncpu_cached);
    if (n == 0) {
        long v = sysconf(_SC_NPROCESSORS_ONLN);
        n = v > 0 ? (int)v : 1;
        STORE_RELAXED(&ncpu_cached, n);
    }
    return n;
}

/* Go's sync_runtime_canSpin (doc/go-rules.md 4.6). */
bool goc__sync_can_spin(int iter)
{
    if (iter >= ACTIVE_SPIN || ncpu() <= 1 ||
        goc_procs() <= goc__npidle() + goc__nmspinning() + 1)
        return false;
    goc_p *p = goc__getp();
    return p == NULL || goc__runq_empty(p);
}

void goc__mutex_lock_slow(goc_mutex *m)
{
    int64_t wait_start = 0;
    bool starving = false, awoke = false;
    int iter = 0;
    int32_t old = LOAD_RELAXED(&m->state);
    for (;;) {
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && goc__sync_can_spin(iter)) {
            /* Tell Unlock not to wake a waiter: we are awake and trying. */
            if (!awoke && (old & MUTEX_WOKEN) == 0 && (old >> MUTEX_WAITER_SHIFT) != 0 &&
                CAS_ACQREL(&m->state, &old, old | MUTEX_WOKEN))
                awoke = true;
            goc__procyield(ACTIVE_SPIN_CNT);
            iter++;
            old = LOAD_RELAXED(&m->state);
            continue;
        }
        int32_t new = old;
        if ((old & MUTEX_STARVING) == 0)
            new |= MUTEX_LOCKED; /* never grab a starving mutex */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
            new += 1 << MUTEX_WAITER_SHIFT;
        if (starving && (old & MUTEX_LOCKED) != 0)
            new |= MUTEX_STARVING;
        if (awoke) {
            if ((new & MUTEX_WOKEN) == 0)
                goc_fatal("sync: inconsistent mutex state");
            new &= ~MUTEX_WOKEN;
        }
        if (!CAS_ACQREL(&m->state, &old, new))
            continue; /* old reloaded by the CAS */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == 0)
            return; /* locked with CAS */
        if ((new & MUTEX_STARVING) != 0 && (old & MUTEX_STARVING) == 0)
            goc__sync_count(GOC__CTR_STARVE);
        /* Queue: at the front if we already waited once. */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = goc__nanotime();
        goc__semacquire(&m->sema, lifo, "sync.Mutex.Lock", GOC__SEMA_BLOCK | GOC__SEMA_MUTEX);
        starving = starving || goc__nanotime() - wait_start > STARVATION_THRESHOLD_NS;
        old = LOAD_RELAXED(&m->state);
        if ((old & MUTEX_STARVING) != 0) {
            /* Ownership was handed to us; Locked is not set yet and we are
             * still counted as a waiter. */
            if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) != 0 || (old >> MUTEX_WAITER_SHIFT) == 0)
                goc_fatal("sync: inconsistent mutex state");
            int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
            if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
                delta -= MUTEX_STARVING; /* leave starvation mode */
            ADD_FETCH(&m->state, delta);
            return;
        }
        awoke = true;
        iter = 0;
    }
}

/* The external definitions of the header's inline fast paths. */
extern inline void goc_mutex_lock(goc_mutex *m);
extern inline void goc_mutex_unlock(goc_mutex *m);

bool goc_mutex_trylock(goc_mutex *m)
{
    int32_t old = LOAD_RELAXED(&m->state);
    if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0)
        return false;
    return CAS_ACQREL(&m->state, &old, old | MUTEX_LOCKED);
}

void goc__mutex_unlock_slow(goc_mutex *m, int32_t new)
{
    if (((new + MUTEX_LOCKED) & MUTEX_LOCKED) == 0)
        goc_fatal("sync: unlock of unlocked mutex");
    if ((new & MUTEX_STARVING) != 0) {
        /* Hand off: the first waiter sets Locked itself; Starving keeps
         * newcomers out meanwhile. */
        goc__semrelease(&m->sema, true);
        return;
    }
    int32_t old = new;
    for (;;) {
        /* No waiters, or someone already woken or holding it: done. */
        if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
            (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) != 0)
            return;
        new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
        if (CAS_ACQREL(&m->state, &old, new)) {
            goc__semrelease(&m->sema, false);
            return;
        }
    }
}

/* ---- RWMutex ------------------------------------------------------------ */

#define MAX_READERS GOC_RWMUTEX_MAX_READERS

/* The external definitions of the header's inline fast paths. */
extern inline void goc_rwmutex_rlock(goc_rwmutex *rw);
extern inline void goc_rwmutex_runlock(goc_rwmutex *rw);

void goc__rwmutex_rlock_slow(goc_rwmutex *rw)
{
    goc__semacquire(&rw->reader_sem, false, "sync.RWMutex.RLock",
                    GOC__SEMA_BLOCK | GOC__SEMA_MUTEX);
}

bool goc_rwmutex_tryrlock(goc_rwmutex *rw)
{
    int32_t c = LOAD_RELAXED(&rw->reader_count);
    for (;;) {
        if (c < 0)
            return false;
        if (CAS_ACQREL(&rw->reader_count, &c, c + 1))
            return true;
    }
}

void goc__rwmutex_runlock_slow(goc_rwmutex *rw, int32_t r)
{
    if (r + 1 == 0 || r + 1 == -MAX_READERS)
        goc_fatal("sync: RUnlock of unlocked RWMutex");
    /* A writer is pending: the last departing reader wakes it. */
    if (ADD_FETCH(&rw->reader_wait, -1) == 0)
        goc__semrelease(&rw->writer_sem, false);
}

void goc_rwmutex_lock(goc_rwmutex *rw)
{
    goc_mutex_lock(&rw->w);
    /* Announce the writer, then wait for the readers already in. */
    int32_t r = ADD_FETCH(&rw->reader_count, -MAX_READERS) + MAX_READERS;
    if (r != 0 && ADD_FETCH(&rw->reader_wait, r) != 0)
        goc__semacquire(&rw->writer_sem, false, "sync.RWMutex.Lock",
                        GOC__SEMA_BLOCK | GOC__SEMA_MUTEX);
}

bool goc_rwmutex_trylock(goc_rwmutex *rw)
{
    if (!goc_mutex_trylock(&rw->w))
        return false;
    int32_t zero = 0;
    if (!CAS_ACQREL(&rw->reader_count, &zero, -MAX_READERS)) {
        goc_mutex_unlock(&rw->w);
        return false;
    }
    return true;
}

void goc_rwmutex_unlock(goc_rwmutex *rw)
{
    int32_t r = ADD_FETCH(&rw->reader_count, MAX_READERS);
    if (r >= MAX_READERS)
        goc_fatal("sync: Unlock of unlocked RWMutex");
    /* Let in the readers that queued behind us. */
    for (int32_t i = 0; i < r; i++)
        goc__semrelease(&rw->reader_sem, false);
    goc_mutex_unlock(&rw->w);
}
