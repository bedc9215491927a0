/* goc/sched.h: goroutines, the scheduler, sleep, blocking C calls, defer,
 * panic and recover, and the runtime's statistics.
 *
 * A goroutine is a C function running on its own small stack, scheduled by
 * the runtime over a fixed number of processors (Ps) and as many OS threads
 * (Ms) as blocking calls need, as in Go. Switching is cooperative: every
 * runtime call that can block (channel operations, locks, sleep, network
 * I/O, goc_yield) is a yield point; plain C code runs until it reaches one.
 *
 * Errors are returned as 0 or a count on success and a negative errno value
 * on failure, never through errno: errno belongs to the OS thread, and a
 * goroutine may resume on another thread after any yield point. Read errno
 * right after the C call that set it, before the next yield point.
 *
 * Thread-locals: a goroutine may migrate between threads at any yield point,
 * so the address of a __thread variable taken before a yield point may name
 * another thread's variable afterwards. Do not keep such an address (or
 * errno's) across a yield point. The runtime's own lookups of the current
 * goroutine, thread and processor are opaque calls for this reason.
 */
#ifndef GOC_SCHED_H
#define GOC_SCHED_H

#include "goc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- starting the runtime ------------------------------------------- */

/* Options for goc_start. Zero fields take their defaults. */
typedef struct goc_config {
    int procs;         /* number of Ps; 0: $GOMAXPROCS, else the CPU count */
    size_t stack_size; /* default goroutine stack; 0: $GOC_STACK_SIZE, else 64 KiB */
} goc_config;

/* Runs main_fn(argc, argv) as the main goroutine and exits the process with
 * its return value when it returns, as Go's main does: other goroutines are
 * not waited for. Never returns. Call it once, from the process's main
 * thread. */
GOC_NORETURN GOC_API void goc_start(const goc_config *cfg, int (*main_fn)(int, char **), int argc,
                                    char **argv);

/* Defines main() so that the body that follows runs as the main goroutine:
 *     GOC_MAIN(argc, argv) { ...; return 0; }
 * The body need not use argc and argv. */
#define GOC_MAIN(argc, argv)                                                                  \
    static int goc_main_body_(int argc GOC_UNUSED, char **argv GOC_UNUSED);                  \
    int main(int argc_, char **argv_) { goc_start(NULL, goc_main_body_, argc_, argv_); }      \
    static int goc_main_body_(int argc GOC_UNUSED, char **argv GOC_UNUSED)

/* ---- goroutines ------------------------------------------------------ */

typedef void (*goc_fn)(void *arg);

/* Starts a goroutine running fn(copy), where copy is a copy of the argsize
 * bytes at arg placed on the new goroutine's own stack (so a spawn allocates
 * nothing on the heap; the copy lives as long as the goroutine). arg may be
 * NULL when argsize is 0, and fn then receives NULL. argsize must be at most
 * a quarter of the stack size.
 * Returns the new goroutine's id (> 0), or -ENOMEM when no stack can be
 * mapped, or -EINVAL for a bad argsize. */
GOC_API int64_t goc_go(goc_fn fn, const void *arg, size_t argsize);

/* goc_go with the goroutine's stack size in bytes (0: the default). */
GOC_API int64_t goc_go_stack(goc_fn fn, const void *arg, size_t argsize, size_t stack_size);

/* Spawns fn with a copy of the object *argp (any lvalue of a complete type). */
#define goc_go_copy(fn, argp) goc_go((fn), (argp), sizeof *(argp))

/* Lets other goroutines run; the caller is runnable again at once (Go's
 * runtime.Gosched). */
GOC_API void goc_yield(void);

/* Ends the calling goroutine after running its deferred calls (Go's
 * runtime.Goexit). Ending the main goroutine this way does not exit the
 * process. */
GOC_NORETURN GOC_API void goc_exit(void);

/* The calling goroutine's id: 1 for main, then increasing; 0 outside a
 * goroutine. */
GOC_API int64_t goc_id(void);

/* Sleeps for at least ns nanoseconds (<= 0 yields). */
GOC_API void goc_sleep(int64_t ns);

/* Monotonic clock in nanoseconds. */
GOC_API int64_t goc_nanotime(void);

/* Number of Ps. */
GOC_API int goc_procs(void);

/* Gives the kernel back the pages of the calling goroutine's stack below
 * its current depth: the memory that deep calls touched stays resident
 * otherwise (stacks do not shrink by themselves). For a goroutine about to
 * wait long, such as a connection's reader going idle; costs one madvise,
 * and the pages come back zeroed when the stack grows again. */
GOC_API void goc_stack_trim(void);

/* ---- blocking C calls ------------------------------------------------- */

/* Brackets a C call that may block the thread (a file read, SQLite, a lock
 * held by foreign code):
 *     goc_syscall_enter(); n = read(fd, buf, len); goc_syscall_exit();
 * Between the two the goroutine's P may be handed to another thread so that
 * other goroutines keep running; the monitor takes it after 20 us when other
 * work waits. Nothing between the two may call into the runtime.
 * goc_syscall_enter_block() hands the P off at once, for calls known to
 * block for long. */
GOC_API void goc_syscall_enter(void);
GOC_API void goc_syscall_enter_block(void);
GOC_API void goc_syscall_exit(void);

/* ---- defer, panic, recover -------------------------------------------- */

/* A panic carries a message and an optional value. */
typedef struct goc_panic_info {
    const char *msg; /* never NULL */
    void *value;     /* what goc_panic_value passed; NULL for goc_panic */
} goc_panic_info;

/* Runs fn(arg) as one Go function body: goc_defer() calls made inside it
 * (and not inside a nested goc_call) run, last first, when fn returns or
 * while a panic unwinds through it. If one of those deferred calls recovers
 * the panic, goc_call returns normally with true; it returns false when fn
 * returned without a recovered panic. A goroutine's function is already such
 * a body, and so is the main goroutine's. */
GOC_API bool goc_call(goc_fn fn, void *arg);

/* Registers fn(arg) to run when the innermost goc_call body (or the
 * goroutine's function) returns or panics. */
GOC_API void goc_defer(goc_fn fn, void *arg);

/* Starts a panic: the goroutine's deferred calls run, innermost body first;
 * if none recovers it, the message and every goroutine's state are printed
 * to stderr and the process aborts. msg must stay valid until then (a string
 * literal, typically). */
GOC_NORETURN GOC_API void goc_panic(const char *msg);
GOC_NORETURN GOC_API void goc_panic_value(const char *msg, void *value);

/* Called directly from a deferred function while a panic unwinds: stops the
 * panic and returns it. Anywhere else, returns NULL (as Go's recover returns
 * nil). The returned pointer is valid until the deferred function returns. */
GOC_API const goc_panic_info *goc_recover(void);

/* Prints "fatal error: msg", every goroutine's state, and aborts. */
GOC_NORETURN GOC_API void goc_fatal(const char *msg);

/* ---- statistics --------------------------------------------------------- */

/* A snapshot of the scheduler's counters. Counts are cumulative since start. */
typedef struct goc_sched_stats {
    int64_t goroutines; /* live goroutines, main included */
    int32_t procs;      /* Ps */
    int32_t threads;    /* Ms started, the monitor excluded */
    int32_t idle_procs;
    int32_t spinning;
    uint64_t spawns;   /* goroutines ever started */
    uint64_t switches; /* goroutine switches */
    uint64_t steals;   /* goroutines taken from another P's queue */
    uint64_t syscalls; /* goc_syscall_enter calls */
    uint64_t retakes;  /* Ps taken from blocked calls by the monitor */
    uint64_t hogs;     /* goroutines reported running > 10 ms without yielding */
    int64_t global_runq;
    int64_t uptime_ns;
    size_t stack_size;      /* default stack size */
    size_t stacks_mapped;   /* stacks mapped (live + pooled) */
    size_t stacks_pooled;   /* free stacks in the global pool (not in a P's cache) */
    size_t stacks_released; /* of those, the ones whose pages went back to the kernel */
} goc_sched_stats;

GOC_API void goc_sched_stats_read(goc_sched_stats *out);

/* Length of P i's local run queue (runnext included); -1 when i is out of
 * range. */
GOC_API int goc_sched_runq_len(int i);

/* Writes every goroutine's id, state and wait reason to fd (the same dump a
 * fatal panic or SIGQUIT prints). */
GOC_API void goc_dump_goroutines(int fd);

#ifdef __cplusplus
}
#endif
#endif
