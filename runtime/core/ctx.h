/* ctx.h: saving and restoring a goroutine's registers.
 *
 * x86-64: the switch is inline assembly (below). A context holds the stack
 * and frame pointers, where to resume, and the floating-point control
 * words; the callee-saved registers are on the goroutine's own stack,
 * pushed by the prologue of the function the switch is inlined into.
 * aarch64: goc__ctx_switch (ctx_aarch64.S) pushes the callee-saved
 * registers and FPCR on the old stack, stores its stack pointer, loads the
 * new one and pops the same; a context is the saved stack pointer.
 * The portable fallback (meson option context=ucontext) uses
 * getcontext/makecontext/swapcontext.
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
#elif defined(__x86_64__)
typedef struct goc__ctx {
    void *sp;
    void *bp;
    void *pc;       /* where it resumes */
    uint32_t mxcsr; /* its SSE control and status word */
    uint16_t fpcw;  /* its x87 control word */
} goc__ctx;
#else
typedef struct goc__ctx {
    void *sp;
} goc__ctx;
#endif

/* The stack pointer a suspended context resumes with. */
static inline uintptr_t goc__ctx_sp(const goc__ctx *c)
{
#if defined(GOC_CTX_UCONTEXT) && defined(__x86_64__)
    return (uintptr_t)c->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(GOC_CTX_UCONTEXT) && defined(__aarch64__)
    return (uintptr_t)c->uc.uc_mcontext.sp;
#elif defined(GOC_CTX_UCONTEXT)
#error "goc__ctx_sp: no ucontext layout for this CPU"
#else
    return (uintptr_t)c->sp;
#endif
}

/* Prepares c so that switching to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return. */
void goc__ctx_init(goc__ctx *c, void *lo, size_t size, void (*entry)(void *), void *arg);

/* Where a suspended context stands, for stack walks (traceback.c): *pc is
 * where it resumes, in the function whose frame pointer is *fp. Both 0 for
 * a context made by goc__ctx_init that never ran. */
void goc__ctx_frame(const goc__ctx *c, uintptr_t *pc, uintptr_t *fp);

/* Saves the current registers and floating-point control words in from and
 * resumes to. */
#if defined(__x86_64__) && !defined(GOC_CTX_UCONTEXT)
/* Stores rsp, rbp, the resume address and the control words in from, loads
 * to's and jumps to where to stopped: the end of its own copy of this
 * statement. Every other register is declared clobbered, so the compiler
 * keeps nothing in them across it, and the callee-saved ones are saved
 * once, by the prologue of the function this is inlined into (the old
 * out-of-line switch pushed them a second time). The red zone below rsp
 * stays intact while the context is suspended: nothing else runs on that
 * stack.
 * The control words go straight between memory and the CPU: stmxcsr and
 * fnstcw write from's, ldmxcsr and fldcw load to's. A store from stmxcsr
 * or fnstcw read back soon after is not forwarded and waits until it
 * retires, so comparing the words to skip the load cost more (about a
 * tenth of a yield) than always loading them. */
static inline __attribute__((always_inline)) void goc__ctx_switch(goc__ctx *from, goc__ctx *to)
{
    __asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
                     "movq %%rsp, 0(%%rdi)\n\t"
                     "movq %%rbp, 8(%%rdi)\n\t"
                     "movq %%rax, 16(%%rdi)\n\t"
                     "stmxcsr 24(%%rdi)\n\t"
                     "fnstcw 28(%%rdi)\n\t"
                     "movq 0(%%rsi), %%rsp\n\t"
                     "movq 8(%%rsi), %%rbp\n\t"
                     "ldmxcsr 24(%%rsi)\n\t"
                     "fldcw 28(%%rsi)\n\t"
                     "jmpq *16(%%rsi)\n"
                     "1:"
                     : "+D"(from), "+S"(to)
                     :
                     : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                       "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                       "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc",
                       "memory");
}
#else
void goc__ctx_switch(goc__ctx *from, goc__ctx *to);
#endif

#endif
