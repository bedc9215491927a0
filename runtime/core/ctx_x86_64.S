/* ctx_x86_64.S: goroutine context switch for x86-64 (System V ABI).
 *
 * void goc__ctx_switch(goc__ctx *from, goc__ctx *to, uint64_t fpwords)
 *   Saves rbp, rbx, r12-r15 and the caller's floating-point control words
 *   (fpwords: MXCSR, then the x87 control word at bit 32, read by the
 *   caller with goc__fpwords) on the current stack, stores rsp in
 *   from->sp, loads to->sp and restores the same registers from there (the
 *   control words only when they differ from the caller's).
 *   The frame, from the saved rsp up:
 *     [mxcsr:4 fpcw:2 0:2] r15 r14 r13 r12 rbx rbp return-address
 *
 * goc__ctx_start is where a new context begins: r12 holds the argument and
 * r13 the entry function, placed there by goc__ctx_init.
 */
    .text
    .globl goc__ctx_switch
    .type goc__ctx_switch, @function
    .p2align 4
goc__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    movq %rdx, (%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    /* Loading the control words is slow: skip it when they are equal. */
    cmpq (%rsp), %rdx
    jne 2f
1:
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
2:
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    jmp 1b
    .cfi_endproc
    .size goc__ctx_switch, .-goc__ctx_switch

    .globl goc__ctx_start
    .type goc__ctx_start, @function
    .p2align 4
goc__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size goc__ctx_start, .-goc__ctx_start

    .section .note.GNU-stack,"",@progbits
