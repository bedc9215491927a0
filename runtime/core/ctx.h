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
#include <stdint.h>

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

/* Saves the current registers in from and resumes to. fpwords: the
 * caller's floating-point control words from goc__fpwords() (used on
 * x86-64; aarch64 reads FPCR in the switch, ucontext saves its own). */
void goc__ctx_switch(goc__ctx *from, goc__ctx *to, uint64_t fpwords);

/* The current MXCSR (low 32 bits) and x87 control word (bits 32-47) for
 * goc__ctx_switch. Reading MXCSR is slow (stmxcsr: one per ~15 cycles on
 * AMD Zen 3), so the switch paths read the words on entry, where the read
 * overlaps the scheduling work before the switch; the runtime never
 * changes them in between. */
static inline uint64_t goc__fpwords(void)
{
#if defined(__x86_64__) && !defined(GOC_CTX_UCONTEXT)
    uint32_t mxcsr;
    uint16_t fpcw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpcw));
    return mxcsr | (uint64_t)fpcw << 32;
#else
    return 0;
#endif
}

#endif
