/* goc/chan.h: channels and select, with Go's semantics (Go's src/runtime/chan.go
 * and select.go; doc/go-rules.md 1 and 2).
 *
 * A channel carries fixed-size elements (any size below 64 KiB, copied with
 * memcpy) between goroutines. Unbuffered channels hand a value directly from
 * sender to receiver; buffered ones queue up to cap elements. Every blocking
 * operation is a yield point: the goroutine parks, its wait record lives on
 * its own stack, nothing is allocated per block.
 *
 * The nil channel is the NULL pointer: send and receive on it block forever,
 * select ignores its cases, len and cap are 0, and closing it panics.
 *
 * Panics (through goc_panic, recoverable with goc_recover in a deferred call):
 *   "send on closed channel"       send to (or a select send case on) a
 *                                   closed channel, also when the close
 *                                   happens while the sender is blocked;
 *   "close of closed channel"      second close;
 *   "close of nil channel"         goc_chan_close(NULL);
 *   "makechan: size out of range"  negative or too large a capacity.
 *
 * Lifetime: a channel from goc_chan_make is explicit memory. The goroutine
 * that makes it decides who frees it; goc_chan_free must be called only
 * once no goroutine is blocked on it or can still use it (typically by the
 * last receiver after the channel is closed and drained, or by the owner
 * after joining every user with a WaitGroup). Channels owned by a timer or
 * a context are freed with their owner, never with goc_chan_free. A
 * channel from goc_chan_make_gc (or goc_after_chan, goc/time.h) is
 * collected memory, as every Go channel is: the collector (goc/gc.h) frees
 * it once nothing reaches it, and it is never passed to goc_chan_free.
 */
#ifndef GOC_CHAN_H
#define GOC_CHAN_H

#include "goc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct goc_chan goc_chan;

/* Makes a channel of elements of elemsize bytes (0 to 65535) with a buffer
 * of cap elements (0: unbuffered). The channel and its buffer are one
 * allocation. Panics "makechan: size out of range" if cap < 0 or the buffer
 * would be too large; aborts (goc_fatal) if elemsize >= 65536 or memory is
 * exhausted. Returns the channel, owned by the caller (see goc_chan_free). */
GOC_API goc_chan *goc_chan_make(size_t elemsize, int64_t cap);

/* goc_chan_make in collected memory (goc/gc.h): the collector frees the
 * channel once no goroutine, variable or object reaches it (a goroutine
 * blocked on it reaches it). Its buffered values are scanned, so pointers
 * to collected objects sent through it keep them alive. goc_chan_free on it
 * is a fatal error. Must be called on a goroutine. */
GOC_API goc_chan *goc_chan_make_gc(size_t elemsize, int64_t cap);

/* Frees c (NULL is a no-op). No goroutine may be blocked on c or use it
 * afterwards; buffered values still in it are dropped. */
GOC_API void goc_chan_free(goc_chan *c);

/* Sends the elemsize bytes at elem, blocking until a receiver takes them or
 * buffer space frees up. Blocks forever on NULL. Panics "send on closed
 * channel". elem is read during the call only. */
GOC_API void goc_chan_send(goc_chan *c, const void *elem);

/* Receives into elem (NULL: discard the value), blocking until a value or a
 * close arrives. Returns true for a value sent by a sender, false when the
 * channel is closed and drained (elem is then zeroed). Blocks forever on
 * NULL. */
GOC_API bool goc_chan_recv(goc_chan *c, void *elem);

/* Non-blocking send (select with one send case and default): returns true
 * if the value was sent, false if it would block (always false on NULL).
 * Panics "send on closed channel". */
GOC_API bool goc_chan_try_send(goc_chan *c, const void *elem);

/* Non-blocking receive: returns false if it would block (nothing written,
 * *ok untouched); true if it completed, with *ok (may be NULL) true for a
 * value and false for closed-and-drained (elem zeroed). */
GOC_API bool goc_chan_try_recv(goc_chan *c, void *elem, bool *ok);

/* Closes c: blocked receivers get zero values with ok=false, blocked
 * senders panic, buffered values stay receivable. Panics "close of nil
 * channel" and "close of closed channel". */
GOC_API void goc_chan_close(goc_chan *c);

/* Elements queued in the buffer, and the buffer's capacity (0 for NULL).
 * Read without the lock, as Go's len and cap. */
GOC_API int64_t goc_chan_len(const goc_chan *c);
GOC_API int64_t goc_chan_cap(const goc_chan *c);

/* Size of c's elements (0 for NULL). */
GOC_API size_t goc_chan_elemsize(const goc_chan *c);

/* ---- typed channels ------------------------------------------------------ */

/* GOC_CHAN_TYPE(name, T) declares `name`, a channel of T values that the
 * compiler checks: a struct holding the goc_chan, with inline calls that
 * take and return T by value, so a value of the wrong type (or a channel
 * of another element type) is a compile-time error, not a silent copy of
 * the wrong number of bytes:
 *
 *     GOC_CHAN_TYPE(job_chan, struct job);
 *     job_chan jobs = job_chan_make(16);
 *     job_chan_send(jobs, j);
 *     bool ok;
 *     struct job next = job_chan_recv(jobs, &ok);
 *
 * name_make, _send, _recv (ok may be NULL), _try_send, _try_recv, _close,
 * _free behave as the goc_chan_* calls of the same name; `.c` is the
 * goc_chan for select cases. goc_chan_int (int64_t) and goc_chan_ptr
 * (void *) are declared here. */
#define GOC_CHAN_TYPE(name, T)                                                                \
    typedef struct name {                                                                     \
        goc_chan *c;                                                                          \
    } name;                                                                                   \
    static inline GOC_UNUSED name name##_make(int64_t cap)                                    \
    {                                                                                         \
        name ch;                                                                              \
        ch.c = goc_chan_make(sizeof(T), cap);                                                 \
        return ch;                                                                            \
    }                                                                                         \
    static inline GOC_UNUSED void name##_send(name ch, T v) { goc_chan_send(ch.c, &v); }      \
    static inline GOC_UNUSED T name##_recv(name ch, bool *ok)                                 \
    {                                                                                         \
        T v;                                                                                  \
        bool got = goc_chan_recv(ch.c, &v);                                                   \
        if (ok)                                                                               \
            *ok = got;                                                                        \
        return v;                                                                             \
    }                                                                                         \
    static inline GOC_UNUSED bool name##_try_send(name ch, T v)                               \
    {                                                                                         \
        return goc_chan_try_send(ch.c, &v);                                                   \
    }                                                                                         \
    static inline GOC_UNUSED bool name##_try_recv(name ch, T *v, bool *ok)                    \
    {                                                                                         \
        return goc_chan_try_recv(ch.c, v, ok);                                                \
    }                                                                                         \
    static inline GOC_UNUSED void name##_close(name ch) { goc_chan_close(ch.c); }             \
    static inline GOC_UNUSED void name##_free(name ch) { goc_chan_free(ch.c); }               \
    typedef int name##_typed_chan_declared_ /* so that the use ends with ';' */

GOC_CHAN_TYPE(goc_chan_int, int64_t);
GOC_CHAN_TYPE(goc_chan_ptr, void *);

/* ---- select ------------------------------------------------------------ */

enum {
    GOC_SELECT_RECV = 0, /* receive into elem (NULL: discard) */
    GOC_SELECT_SEND = 1, /* send the bytes at elem */
};

#define GOC_SELECT_MAX_CASES 65536

/* One case of a select. Filled in by the caller; ok is written back. */
typedef struct goc_select_case {
    goc_chan *c; /* NULL: the case is never chosen (Go's nil channel) */
    int dir;     /* GOC_SELECT_RECV or GOC_SELECT_SEND */
    void *elem;  /* value to send, or where to receive (may be NULL) */
    bool ok;     /* out, receive cases: true for a value, false on close */
} goc_select_case;

/* Go's select over cases[0..ncases): waits until one case can proceed, runs
 * exactly that one, and returns its index. When several are ready, one is
 * chosen uniformly at random. block=false adds a default clause: returns -1
 * at once if no case is ready. With no cases (or only NULL-channel cases)
 * and block=true it blocks forever. Cases on the same channel, including a
 * send and a receive on one unbuffered channel, are allowed.
 * Panics "send on closed channel" when a send case is chosen on a closed
 * channel, and "select: too many cases" above GOC_SELECT_MAX_CASES.
 * More than 8 cases allocate a scratch array for the call's duration. */
GOC_API int goc_select(goc_select_case *cases, int ncases, bool block);

/* ---- statistics -------------------------------------------------------- */

/* Counters of the channel and sync layer, cumulative since start. */
typedef struct goc_sync_stats {
    uint64_t chan_sends;        /* completed sends (select send cases included) */
    uint64_t chan_recvs;        /* completed receives (select cases included) */
    uint64_t chan_closes;       /* channels closed */
    uint64_t selects;           /* goc_select calls */
    uint64_t chan_parks;        /* channel operations and selects that blocked */
    uint64_t sema_parks;        /* semaphore waits that blocked (Mutex, WaitGroup...) */
    uint64_t mutex_starvations; /* times a Mutex entered starvation mode */
} goc_sync_stats;

/* Fills out with a snapshot (each counter read atomically, the whole not). */
GOC_API void goc_sync_stats_read(goc_sync_stats *out);

#ifdef __cplusplus
}
#endif
#endif
