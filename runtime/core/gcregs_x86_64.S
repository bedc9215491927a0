/* gcregs_x86_64.S: goc_syscall_enter and goc_syscall_enter_block.
 *
 * While an M is between goc_syscall_enter and goc_syscall_exit the
 * collector does not stop it (runtime/core/stw.c): it scans the
 * goroutine's stack from the caller's stack pointer at the call, and the
 * callee-saved registers as they were at the call. Only assembly sees
 * those registers before a prologue may have saved and reused them, so
 * these entries push them, pass their address and the caller's stack
 * pointer to the C bodies (sched.c), and drop them again (the C bodies
 * preserve them, as the ABI requires).
 *
 *   regs[0..5] = rbp, rbx, r12, r13, r14, r15 (GOC_SYSCALL_NREGS)
 */
    .macro SYSCALL_ENTRY name, body
    .text
    .globl \name
    .type \name, @function
    .p2align 4
\name:
    .cfi_startproc
    subq $56, %rsp                  /* 6 registers and 8 bytes that align rsp */
    .cfi_adjust_cfa_offset 56
    movq %rbp, 0(%rsp)
    movq %rbx, 8(%rsp)
    movq %r12, 16(%rsp)
    movq %r13, 24(%rsp)
    movq %r14, 32(%rsp)
    movq %r15, 40(%rsp)
    movq %rsp, %rdi                 /* regs */
    leaq 64(%rsp), %rsi             /* the caller's rsp once this returns */
    callq \body@PLT
    addq $56, %rsp
    .cfi_adjust_cfa_offset -56
    ret
    .cfi_endproc
    .size \name, .-\name
    .endm

    SYSCALL_ENTRY goc_syscall_enter, goc__syscall_enter
    SYSCALL_ENTRY goc_syscall_enter_block, goc__syscall_enter_block

    .section .note.GNU-stack,"",@progbits
