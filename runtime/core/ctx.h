/* ctx.h: saving and restoring a goroutine's registers.
 *
 * With the assembly switch (x86-64, aarch64) a context is the saved stack
 * pointer: goc__ctx_switch pushes the callee-saved registers and the
 * floating-point control words on the old stack, stores its stack pointer,
 * loads the new one and pops the same. The portable fallback (meson option
 * context=ucontext) uses getcontext/makecontext/swapcontext.
 */
#ifndef GOC_CTX_H
#define GOC_CTX_H

#include <stddef.h>

#if defined(GOC_CTX_UCONTEXT)
#include <ucontext.h>
typedef struct goc__ctx {
    ucontext_t uc;
} goc__ctx;
#else
typedef struct goc__ctx {
    void *sp;
} goc__ctx;
#endif

/* Prepares c so that switching to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return. */
void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

/* Saves the current registers in from and resumes to. */
void goc__ctx_switch(goc__ctx *from, goc__ctx *to);

#endif
