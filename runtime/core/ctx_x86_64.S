/* ctx_x86_64.S: where a new goroutine context begins on x86-64 (the switch
 * itself is inline, goc__ctx_switch in ctx.h).
 *
 * goc__ctx_start: goc__ctx_init left the argument and the entry function
 * on the new stack with a null return address above them; once both are
 * taken rsp is 16-byte aligned, as a call requires.
 */
    .text
    .globl goc__ctx_start
    .hidden goc__ctx_start
    .type goc__ctx_start, @function
    .p2align 4
goc__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq (%rsp), %rdi
    movq 8(%rsp), %rax
    addq $16, %rsp
    callq *%rax
    ud2
    .cfi_endproc
    .size goc__ctx_start, .-goc__ctx_start

    .section .note.GNU-stack,"",@progbits
