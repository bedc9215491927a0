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

void goc__ctx_switch(goc__ctx *from, goc__ctx *to, uint64_t fpwords)
{
    (void)fpwords; /* swapcontext saves the floating-point state itself */
    swapcontext(&from->uc, &to->uc);
}

#elif defined(__x86_64__)

extern void goc__ctx_start(void);

void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0; /* end of the frame chain for debuggers */
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)goc__ctx_start; /* popped by ret */
    *--sp = 0;                                    /* rbp */
    *--sp = 0;                                    /* rbx */
    *--sp = (uint64_t)(uintptr_t)arg;             /* r12 */
    *--sp = (uint64_t)(uintptr_t)entry;           /* r13 */
    *--sp = 0;                                    /* r14 */
    *--sp = 0;                                    /* r15 */
    /* MXCSR default (all exceptions masked, round to nearest) and the x87
     * control word default (extended precision, all masked). */
    *--sp = (uint64_t)0x1F80 | ((uint64_t)0x037F << 32);
    c->sp = sp;
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

#else
#error "no assembly context switch for this CPU: configure with -Dcontext=ucontext"
#endif
