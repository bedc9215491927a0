/* traceback.h: stack walks and PC symbolization (traceback.c), for the
 * fatal reports (signal.c) and for whatever else needs to name code:
 * debugger support, profiles.
 *
 * A stack is walked through its frame pointers (the project builds with
 * -fno-omit-frame-pointer): each frame record holds the caller's frame
 * pointer and the return address. Every read is checked against the
 * stack's bounds, so a torn or foreign chain ends the walk, never faults.
 * A PC is named from the ELF symbol table of the object holding it (the
 * executable and each shared object, static functions included; .dynsym
 * when .symtab was stripped), read from the object's file on first use.
 *
 * Everything here may run in a signal handler: no malloc, no locks, no
 * stdio; memory comes from mmap, files are read with open and mmap. The
 * list of loaded objects is taken once, by goc__traceback_init at start-up
 * (dl_iterate_phdr takes the loader's lock): objects opened later with
 * dlopen are not named.
 */
#ifndef GOC_TRACEBACK_H
#define GOC_TRACEBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"

/* A PC named. */
typedef struct goc__symbol {
    const char *func;    /* the function's name, NULL if none was found */
    uintptr_t offset;    /* pc - the function's start */
    const char *module;  /* the object's path (the executable: its real path) */
    uintptr_t rel;       /* pc in the object's own addresses (for addr2line -e module) */
} goc__symbol;

/* Takes the list of loaded objects. Call once, before any thread but the
 * main one runs (goc_start). */
void goc__traceback_init(void);

/* PCs, as every walk below returns them, are return addresses, innermost
 * first (Go's runtime.Callers): pc - 1 lies in the call, so name a PC with
 * goc__symbolize(pc - 1). Where a walk starts from a resume point or a
 * faulting instruction it stores that address + 1 to the same effect. */

/* Walks the frame chain that starts in the function at pc whose frame
 * pointer is fp, on the stack [lo, hi): stores pc + 1, then each return
 * address, up to max. Returns the count. */
int goc__traceback_walk(uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *pcs,
                        int max);

/* The PCs of the calling thread's stack, from the return into its caller
 * on: a goroutine's stack or an M's own. */
int goc__traceback_here(uintptr_t *pcs, int max);

/* The PCs of a context a signal interrupted, on whichever stack holds fp
 * (a goroutine's, or the current M's own); just pc's when none does. When
 * pc is not yet inside a function's body (at its first instruction, or in
 * no code at all: a call through a bad pointer), the caller's frame is not
 * made yet: its return address is at sp (x86-64) or in lr (aarch64). */
int goc__traceback_signal(uintptr_t pc, uintptr_t sp, uintptr_t fp, uintptr_t lr, uintptr_t *pcs,
                          int max);

/* goc__traceback_signal on the registers of uctx, a signal handler's
 * third argument (signal.c). -1 on a CPU it does not know. */
int goc__traceback_ucontext(const void *uctx, uintptr_t *pcs, int max);

/* The PCs of goroutine g's stack: as goc__traceback_here when g is the
 * current goroutine, else from the registers g saved when it last stopped.
 * -1 when g runs on another thread (its stack moves under the walk), is in
 * a blocking call, or has ended. A goroutine created but not yet started
 * has one PC, its function's (+ 1). */
int goc__traceback_g(goc_g *g, uintptr_t *pcs, int max);

/* Names the code at pc. Returns false, with func NULL, when no object
 * holds pc or no symbol covers it (module and rel are still set when an
 * object holds it). */
bool goc__symbolize(uintptr_t pc, goc__symbol *out);

#endif
