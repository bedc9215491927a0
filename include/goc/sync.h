/* goc/sync.h: Mutex, RWMutex, WaitGroup, Once and Cond, as Go's sync
 * package (Go's src/sync/ and src/runtime/sema.go; doc/go-rules.md 3 to 5).
 *
 * Every type is a plain struct whose all-zero value is ready to use (Go's
 * zero value): declare it static, embed it, or memset it; the _INIT macros
 * spell the same thing. None of them may be copied once used, and none owns
 * memory: there is nothing to destroy.
 *
 * Blocking waits park the goroutine on a semaphore keyed by the address of
 * a field (Go's semtable); an uncontended Lock/Unlock is one atomic
 * instruction each. These must be called from goroutines.
 *
 * Fatal errors (goc_fatal: printed with every goroutine's state, then abort;
 * not recoverable, as Go's throw):
 *   "sync: unlock of unlocked mutex", "sync: RUnlock of unlocked RWMutex",
 *   "sync: Unlock of unlocked RWMutex", "sync: inconsistent mutex state".
 * Panics (goc_panic, recoverable):
 *   "sync: negative WaitGroup counter",
 *   "sync: WaitGroup misuse: Add called concurrently with Wait",
 *   "sync: WaitGroup is reused before previous Wait has returned",
 *   "sync.Cond is copied".
 */
#ifndef GOC_SYNC_H
#define GOC_SYNC_H

#include "goc/api.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Mutex ------------------------------------------------------------- */

/* Go's sync.Mutex: state = Locked(1) | Woken(2) | Starving(4) | waiters<<3.
 * A waiter that waited over 1 ms switches the mutex to starvation mode, in
 * which Unlock hands ownership straight to the first waiter. Any goroutine
 * may unlock it, not only the one that locked it. */
typedef struct goc_mutex {
    int32_t state; /* atomic: the bits above */
    uint32_t sema; /* semaphore the waiters sleep on */
} goc_mutex;

#define GOC_MUTEX_INIT {0, 0}

/* Lock's and Unlock's fast paths are inline, as Go inlines them: one
 * atomic instruction each when uncontended, the rest out of line. */
GOC_API void goc__mutex_lock_slow(goc_mutex *m);
GOC_API void goc__mutex_unlock_slow(goc_mutex *m, int32_t state);

GOC_API inline void goc_mutex_lock(goc_mutex *m)
{
    int32_t unlocked = 0;
    if (__builtin_expect(!__atomic_compare_exchange_n(&m->state, &unlocked, 1, 0, __ATOMIC_ACQUIRE,
                                                      __ATOMIC_RELAXED),
                         0))
        goc__mutex_lock_slow(m);
}

/* Returns true if it took the lock; never blocks. */
GOC_API bool goc_mutex_trylock(goc_mutex *m);

/* Fatal "sync: unlock of unlocked mutex" if m is not locked. */
GOC_API inline void goc_mutex_unlock(goc_mutex *m)
{
    int32_t state = __atomic_add_fetch(&m->state, -1, __ATOMIC_RELEASE);
    if (__builtin_expect(state != 0, 0))
        goc__mutex_unlock_slow(m, state);
}

/* ---- RWMutex ----------------------------------------------------------- */

#define GOC_RWMUTEX_MAX_READERS (1 << 30)

/* Go's sync.RWMutex: a pending writer blocks new readers (so a recursive
 * RLock can deadlock), and writers exclude each other through w. */
typedef struct goc_rwmutex {
    goc_mutex w;          /* held by the writer, pending or active */
    uint32_t writer_sem;  /* the writer waits here for departing readers */
    uint32_t reader_sem;  /* readers wait here for the writer */
    int32_t reader_count; /* atomic: active readers, minus MAX_READERS when
                           * a writer is pending */
    int32_t reader_wait;  /* atomic: readers the pending writer waits for */
} goc_rwmutex;

#define GOC_RWMUTEX_INIT {GOC_MUTEX_INIT, 0, 0, 0, 0}

/* The read side's fast paths are inline (as Go inlines RLock and RUnlock):
 * one atomic add each, the rest out of line. */
GOC_API void goc__rwmutex_rlock_slow(goc_rwmutex *rw);
GOC_API void goc__rwmutex_runlock_slow(goc_rwmutex *rw, int32_t r);

GOC_API inline void goc_rwmutex_rlock(goc_rwmutex *rw)
{
    if (__builtin_expect(__atomic_add_fetch(&rw->reader_count, 1, __ATOMIC_SEQ_CST) < 0, 0))
        goc__rwmutex_rlock_slow(rw); /* a writer is pending */
}

GOC_API bool goc_rwmutex_tryrlock(goc_rwmutex *rw);

/* Fatal "sync: RUnlock of unlocked RWMutex" if not read-locked. */
GOC_API inline void goc_rwmutex_runlock(goc_rwmutex *rw)
{
    int32_t r = __atomic_add_fetch(&rw->reader_count, -1, __ATOMIC_SEQ_CST);
    if (__builtin_expect(r < 0, 0))
        goc__rwmutex_runlock_slow(rw, r);
}
GOC_API void goc_rwmutex_lock(goc_rwmutex *rw);
GOC_API bool goc_rwmutex_trylock(goc_rwmutex *rw);
/* Fatal "sync: Unlock of unlocked RWMutex" if not write-locked. */
GOC_API void goc_rwmutex_unlock(goc_rwmutex *rw);

/* ---- WaitGroup --------------------------------------------------------- */

/* Go's sync.WaitGroup: counter in the high 32 bits of state, waiter count
 * in the low 32 bits. */
typedef struct goc_waitgroup {
    uint64_t state; /* atomic: counter << 32 | waiters */
    uint32_t sema;  /* waiters sleep here */
} goc_waitgroup;

#define GOC_WAITGROUP_INIT {0, 0}

/* Adds delta (may be negative) to the counter; when it reaches zero, every
 * waiter is released. Panics as listed above. */
GOC_API void goc_waitgroup_add(goc_waitgroup *wg, int delta);
GOC_API void goc_waitgroup_done(goc_waitgroup *wg);
/* Blocks until the counter is zero. */
GOC_API void goc_waitgroup_wait(goc_waitgroup *wg);

/* ---- Once -------------------------------------------------------------- */

/* Go's sync.Once: Do runs f exactly once; concurrent callers wait until it
 * has returned. An f that panics counts as done (the panic goes on to the
 * caller). */
typedef struct goc_once {
    uint32_t done; /* atomic: 1 once f has returned or panicked */
    goc_mutex m;   /* serialises the first callers */
} goc_once;

#define GOC_ONCE_INIT {0, GOC_MUTEX_INIT}

GOC_API void goc_once_do(goc_once *o, void (*f)(void *arg), void *arg);

/* ---- Cond -------------------------------------------------------------- */

/* Go's notifyList: tickets are taken by Wait and served in order. */
typedef struct goc__notify_list {
    uint32_t wait;   /* atomic: next ticket to hand out */
    uint32_t notify; /* atomic: next ticket to wake [lock for writes] */
    uint32_t lock;   /* runtime lock (goc__lock) guarding the fields below */
    void *head;      /* waiting sudogs, in ticket order [lock] */
    void *tail;      /* [lock] */
} goc__notify_list;

/* Go's sync.Cond over a Mutex L (which must be set before use). */
typedef struct goc_cond {
    goc_mutex *L;             /* held around the condition */
    goc__notify_list notify;  /* waiters */
    uintptr_t checker;        /* own address once used: copy detection */
} goc_cond;

#define GOC_COND_INIT(mutexp) {(mutexp), {0, 0, 0, 0, 0}, 0}

/* Unlocks L, waits for a Signal/Broadcast after this call, relocks L. As in
 * Go, wake-ups may be spurious with respect to the condition: loop. */
GOC_API void goc_cond_wait(goc_cond *c);
/* Wakes one waiter, if any. */
GOC_API void goc_cond_signal(goc_cond *c);
/* Wakes every waiter. */
GOC_API void goc_cond_broadcast(goc_cond *c);

#ifdef __cplusplus
}
#endif
#endif
