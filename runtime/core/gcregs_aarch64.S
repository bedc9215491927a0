/* gcregs_aarch64.S: goc_syscall_enter and goc_syscall_enter_block.
 *
 * While an M is between goc_syscall_enter and goc_syscall_exit the
 * collector does not stop it (runtime/core/stw.c): it scans the
 * goroutine's stack from the caller's stack pointer at the call, and the
 * callee-saved registers as they were at the call. Only assembly sees
 * those registers before a prologue may have saved and reused them, so
 * these entries store them, pass their address and the caller's stack
 * pointer to the C bodies (sched.c), and drop them again (the C bodies
 * preserve them, as the ABI requires).
 *
 *   regs[0..9] = x19..x28, regs[10..17] = d8..d15 (GOC_SYSCALL_NREGS)
 */
    .macro SYSCALL_ENTRY name, body
    .text
    .globl \name
    .type \name, %function
    .p2align 4
\name:
    stp x29, x30, [sp, #-16]!
    mov x29, sp
    sub sp, sp, #144
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp d8, d9, [sp, #80]
    stp d10, d11, [sp, #96]
    stp d12, d13, [sp, #112]
    stp d14, d15, [sp, #128]
    mov x0, sp                      /* regs */
    add x1, x29, #16                /* the caller's sp once this returns */
    bl \body
    mov sp, x29
    ldp x29, x30, [sp], #16
    ret
    .size \name, .-\name
    .endm

    SYSCALL_ENTRY goc_syscall_enter, goc__syscall_enter
    SYSCALL_ENTRY goc_syscall_enter_block, goc__syscall_enter_block

    .section .note.GNU-stack,"",@progbits
