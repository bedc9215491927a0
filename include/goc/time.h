/* goc/time.h: timers and tickers that deliver on channels, as Go's
 * time.NewTimer, time.After, time.NewTicker and time.Tick, usable in
 * goc_select; and time.AfterFunc, a timer that starts a function on a
 * goroutine of its own.
 *
 * Durations and times are int64_t nanoseconds on the monotonic clock
 * (goc_nanotime). A duration so large that now + d overflows means never
 * (the deadline saturates at INT64_MAX), as in Go. Each timer or ticker owns a buffered channel of capacity 1
 * carrying an int64_t: the goc_nanotime() at which it fired. As in Go 1.23
 * and later, Stop and Reset discard a value that was delivered but not yet
 * received, so no stale value is seen after they return; a ticker drops
 * ticks for a receiver that falls behind.
 *
 * Ownership: the caller owns the returned object and frees it with
 * goc_timer_free / goc_ticker_free once no goroutine is blocked on (or will
 * select on) its channel. The channel is the object's: never pass it to
 * goc_chan_free or goc_chan_close. Freeing stops the timer; a callback
 * already running keeps the memory alive until it finishes. goc_tick's
 * ticker is the exception: nobody owns it, and it lives for ever; and
 * goc_after_chan's channel is collected memory, freed by the collector.
 */
#ifndef GOC_TIME_H
#define GOC_TIME_H

#include "goc/api.h"

#include <stdbool.h>
#include <stdint.h>

#include "goc/chan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GOC_NANOSECOND INT64_C(1)
#define GOC_MICROSECOND INT64_C(1000)
#define GOC_MILLISECOND INT64_C(1000000)
#define GOC_SECOND INT64_C(1000000000)

typedef struct goc_timer goc_timer;
typedef struct goc_ticker goc_ticker;

/* Starts a timer that sends the current time on its channel once d has
 * elapsed (d <= 0: as soon as possible). Returns the timer, owned by the
 * caller; aborts on memory exhaustion. */
GOC_API goc_timer *goc_timer_new(int64_t d);

/* time.After: the same object; select on goc_timer_chan(t), then free t. */
GOC_API goc_timer *goc_after(int64_t d);

/* time.After as Go has it: the channel alone, on which the current time
 * (int64_t) arrives once d has elapsed, in collected memory (goc/gc.h):
 * nobody frees it; the collector does, once it has fired and nothing
 * reaches the channel. Until it fires, the pending timer keeps it (and its
 * few dozen bytes) alive, as Go before 1.23 did: prefer goc_timer_new with
 * goc_timer_free in a loop whose timeouts are long and usually not reached.
 * Must be called on a goroutine. Aborts on memory exhaustion. */
GOC_API goc_chan *goc_after_chan(int64_t d);

/* time.AfterFunc: once d has elapsed (d <= 0: as soon as possible), starts
 * fn(arg) on a goroutine of its own. The timer has no channel
 * (goc_timer_chan returns NULL). goc_timer_stop returns true if it kept fn
 * from starting, false if fn has started or the timer was stopped; it
 * does not wait for fn to finish. goc_timer_reset arms it again, d from
 * now, and returns true if it was still to start fn (that run is
 * replaced). goc_timer_free stops it: a goroutine already started keeps
 * running, with no reference to the timer. arg is borrowed: it must stay
 * valid until fn has run or the timer is stopped. Panics "time: AfterFunc
 * with a nil function" if fn is NULL; aborts on memory exhaustion. */
GOC_API goc_timer *goc_after_func(int64_t d, void (*fn)(void *arg), void *arg);

/* The timer's channel (Go's t.C): owned by t, valid until goc_timer_free;
 * NULL for a goc_after_func timer. */
GOC_API goc_chan *goc_timer_chan(goc_timer *t);

/* Prevents the timer from firing. Returns true if the call stopped it
 * (it had not fired, or its value had not been received yet), false if it
 * had already expired and been received, or was stopped. This holds when
 * Stop races with the firing too: true then means no value will arrive,
 * so Go 1.19's `if (!stop) receive` idiom is never needed, and never
 * blocks. */
GOC_API bool goc_timer_stop(goc_timer *t);

/* Re-arms the timer to fire d from now. Returns true if it was active (as
 * goc_timer_stop would have). */
GOC_API bool goc_timer_reset(goc_timer *t, int64_t d);

/* Stops and frees t (NULL: no-op). */
GOC_API void goc_timer_free(goc_timer *t);

/* Starts a ticker sending the current time every d. Panics "non-positive
 * interval for NewTicker" if d <= 0. Returns the ticker, owned by the
 * caller. */
GOC_API goc_ticker *goc_ticker_new(int64_t d);

/* The ticker's channel (Go's t.C), owned by the ticker. */
GOC_API goc_chan *goc_ticker_chan(goc_ticker *t);

/* Stops the ticker: no tick is sent after it returns. */
GOC_API void goc_ticker_stop(goc_ticker *t);

/* Restarts the ticker with period d, the next tick d from now. Panics
 * "non-positive interval for Ticker.Reset" if d <= 0. */
GOC_API void goc_ticker_reset(goc_ticker *t, int64_t d);

/* Stops and frees t (NULL: no-op). */
GOC_API void goc_ticker_free(goc_ticker *t);

/* time.Tick: the channel of a new ticker of period d, for a goroutine that
 * ticks for the rest of the program; the ticker is never stopped nor freed
 * (the channel stays valid for ever). NULL (a nil channel: never ready in
 * goc_select) if d <= 0. */
GOC_API goc_chan *goc_tick(int64_t d);

#ifdef __cplusplus
}
#endif
#endif
