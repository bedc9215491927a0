/* goc/sync.h: Mutex, RWMutex, WaitGroup, Once and Cond, as Go's sync
 * package (Go's src/sync/ and src/runtime/sema.go; doc/go-rules.md 3 to 5),
 * with Go 1.21's OnceFunc and OnceValue, Go 1.25's WaitGroup.Go, and
 * Locker (a Cond over any lock, such as an RWMutex's read side).
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
 *   "sync.Cond is copied", and OnceFunc's and OnceValue's (below).
 */
#ifndef GOC_SYNC_H
#define GOC_SYNC_H

#include "goc/api.h"

#include <stdbool.h>
#include <stddef.h>
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

/* Go 1.25's wg.Go(f): adds 1 to the counter and starts fn(copy) on a new
 * goroutine, copy being a copy of the argsize bytes at arg as goc_go makes
 * it (arg may be NULL when argsize is 0); the counter drops by 1 when fn
 * returns (or the goroutine ends in goc_exit). Returns the goroutine's id,
 * or -ENOMEM / -EINVAL / -EPERM as goc_go, the counter then unchanged. As
 * with Add, a call that starts from zero must happen before Wait. */
GOC_API int64_t goc_waitgroup_go(goc_waitgroup *wg, void (*fn)(void *arg), const void *arg,
                         size_t argsize);

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

/* ---- OnceFunc and OnceValue -------------------------------------------- */

/* Go 1.21's sync.OnceFunc, as C can have it: C has no closures, so the
 * function is a zero-ready object holding f and its argument, and the call
 * is goc_once_func_call. The first call runs f(arg), later ones wait for it
 * and return; if f panicked, every call panics with f's message and value
 * (the first one from inside f's own unwinding); if f ended its goroutine
 * (goc_exit), later calls panic "sync: OnceFunc's function did not
 * return". f runs once either way. Not to be copied once used. */
typedef struct goc_once_func {
    goc_once once;
    void (*f)(void *arg);
    void *arg;
    const char *panic_msg; /* f panicked (or exited): re-raised [once] */
    void *panic_value;     /* its value [once] */
    bool valid;            /* f returned [once] */
} goc_once_func;

#define GOC_ONCE_FUNC_INIT(f, arg) {GOC_ONCE_INIT, (f), (arg), 0, 0, false}

GOC_API void goc_once_func_call(goc_once_func *of);

/* Go 1.21's sync.OnceValue: as goc_once_func, for an f that returns a
 * value (a pointer, or an integer through intptr_t; several values: a
 * pointer to a struct), which every call returns. */
typedef struct goc_once_value {
    goc_once once;
    void *(*f)(void *arg);
    void *arg;
    void *value;           /* what f returned [once] */
    const char *panic_msg; /* as goc_once_func's [once] */
    void *panic_value;     /* [once] */
    bool valid;            /* f returned [once] */
} goc_once_value;

#define GOC_ONCE_VALUE_INIT(f, arg) {GOC_ONCE_INIT, (f), (arg), 0, 0, 0, false}

GOC_API void *goc_once_value_get(goc_once_value *ov);

/* ---- Locker ------------------------------------------------------------ */

/* Go's sync.Locker: a lock as two functions and their object, so a Cond
 * can wait under any of them. The _LOCKER macros spell the three the
 * package has as static initialisers; the functions return the same. */
typedef struct goc_locker {
    void (*lock)(void *l);
    void (*unlock)(void *l);
    void *l; /* the lock object */
} goc_locker;

GOC_API void goc__locker_mutex_lock(void *m);
GOC_API void goc__locker_mutex_unlock(void *m);
GOC_API void goc__locker_rwmutex_lock(void *rw);
GOC_API void goc__locker_rwmutex_unlock(void *rw);
GOC_API void goc__locker_rwmutex_rlock(void *rw);
GOC_API void goc__locker_rwmutex_runlock(void *rw);

#define GOC_MUTEX_LOCKER(mutexp) {goc__locker_mutex_lock, goc__locker_mutex_unlock, (mutexp)}
#define GOC_RWMUTEX_LOCKER(rwp) {goc__locker_rwmutex_lock, goc__locker_rwmutex_unlock, (rwp)}
/* The read side, as Go's RWMutex.RLocker. */
#define GOC_RWMUTEX_RLOCKER(rwp) {goc__locker_rwmutex_rlock, goc__locker_rwmutex_runlock, (rwp)}

GOC_API goc_locker goc_mutex_locker(goc_mutex *m);
GOC_API goc_locker goc_rwmutex_locker(goc_rwmutex *rw);
GOC_API goc_locker goc_rwmutex_rlocker(goc_rwmutex *rw);

/* ---- Cond -------------------------------------------------------------- */

/* Go's notifyList: tickets are taken by Wait and served in order. */
typedef struct goc__notify_list {
    uint32_t wait;   /* atomic: next ticket to hand out */
    uint32_t notify; /* atomic: next ticket to wake [lock for writes] */
    uint32_t lock;   /* runtime lock (goc__lock) guarding the fields below */
    void *head;      /* waiting sudogs, in ticket order [lock] */
    void *tail;      /* [lock] */
} goc__notify_list;

/* Go's sync.Cond over a Locker L, set before use: GOC_COND_INIT for a
 * Mutex, GOC_COND_INIT_LOCKER for any Locker, or goc_cond_init. */
typedef struct goc_cond {
    goc_locker L;             /* held around the condition */
    goc__notify_list notify;  /* waiters */
    uintptr_t checker;        /* own address once used: copy detection */
} goc_cond;

#define GOC_COND_INIT(mutexp) {GOC_MUTEX_LOCKER(mutexp), {0, 0, 0, 0, 0}, 0}
/* e.g. GOC_COND_INIT_LOCKER(GOC_RWMUTEX_RLOCKER(&rw)): waiters hold rw's
 * read side. */
#define GOC_COND_INIT_LOCKER(locker) {locker, {0, 0, 0, 0, 0}, 0}

/* Go's NewCond: makes *c a fresh Cond over L. */
GOC_API void goc_cond_init(goc_cond *c, goc_locker L);

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
