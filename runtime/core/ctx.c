/* ctx.c: building a new goroutine context (see ctx.h). */
#include "ctx.h"

#include <stdint.h>
#include <string.h>

#if defined(GOC_CTX_UCONTEXT)

/* makecontext passes int arguments: split the two pointers. */
static void ctx_tramp(unsigned e_lo, unsigned e_hi, unsigned a_lo, unsigned a_hi)
{
    void (*entry)(void *) =
        (void (*)(void *))(uintptr_t)(((uint64_t)e_hi << 32) | (uint64_t)e_lo);
    void *arg = (void *)(uintptr_t)(((uint64_t)a_hi << 32) | (uint64_t)a_lo);
    entry(arg);
    __builtin_trap();
}

void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    uint64_t e = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
    makecontext(&c->uc, (void (*)(void))ctx_tramp, 4, (unsigned)e, (unsigned)(e >> 32),
                (unsigned)a, (unsigned)(a >> 32));
}

void goc__ctx_switch(goc__ctx *from, goc__ctx *to)
{
    swapcontext(&from->uc, &to->uc); /* with the floating-point environment */
}

void goc__ctx_frame(const goc__ctx *c, uintptr_t *pc, uintptr_t *fp)
{
#if defined(__x86_64__)
    *pc = (uintptr_t)c->uc.uc_mcontext.gregs[REG_RIP];
    *fp = (uintptr_t)c->uc.uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
    *pc = (uintptr_t)c->uc.uc_mcontext.pc;
    *fp = (uintptr_t)c->uc.uc_mcontext.regs[29];
#else
    *pc = *fp = 0;
#endif
    if (*pc == (uintptr_t)ctx_tramp)
        *pc = *fp = 0;
}

#elif defined(__x86_64__)

extern void goc__ctx_start(void);

void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0; /* a null return address: the end of the stack for unwinders */
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)entry; /* goc__ctx_start takes both */
    *--sp = (uint64_t)(uintptr_t)arg;
    c->sp = sp;
    c->bp = NULL;
    c->pc = (void *)(uintptr_t)goc__ctx_start;
    c->mxcsr = 0x1F80; /* all exceptions masked, round to nearest */
    c->fpcw = 0x037F;  /* extended precision, all exceptions masked */
}

void goc__ctx_frame(const goc__ctx *c, uintptr_t *pc, uintptr_t *fp)
{
    *pc = (uintptr_t)c->pc; /* inside the function the switch is inlined into */
    *fp = (uintptr_t)c->bp;
    if (*pc == (uintptr_t)goc__ctx_start)
        *pc = *fp = 0;
}

#elif defined(__aarch64__)

extern void goc__ctx_start(void);

void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 16 - 176);
    memset(sp, 0, 176 + 16);
    sp[0] = (uint64_t)(uintptr_t)arg;             /* x19 */
    sp[1] = (uint64_t)(uintptr_t)entry;           /* x20 */
    sp[11] = (uint64_t)(uintptr_t)goc__ctx_start; /* x30 */
    sp[20] = 0;                                   /* fpcr: defaults */
    c->sp = sp;
}

void goc__ctx_frame(const goc__ctx *c, uintptr_t *pc, uintptr_t *fp)
{
    /* goc__ctx_switch's frame: x29 at 80, x30 (the return into its caller,
     * whose frame x29 is) at 88 */
    const uint64_t *sp = c->sp;
    *fp = (uintptr_t)sp[10];
    *pc = (uintptr_t)sp[11];
    if (*pc == (uintptr_t)goc__ctx_start)
        *pc = *fp = 0;
}

#else
#error "no assembly context switch for this CPU: configure with -Dcontext=ucontext"
#endif
