/* ctx_aarch64.S: goroutine context switch for aarch64 (AAPCS64).
 *
 * void goc__ctx_switch(goc__ctx *from, goc__ctx *to)
 *   Saves x19-x30, d8-d15 and FPCR in a 176-byte frame on the current
 *   stack, stores sp in from->sp, loads to->sp and restores the same.
 *   Frame: x19..x30 at 0..88, d8..d15 at 96..152, fpcr at 160.
 *
 * goc__ctx_start begins a new context: x19 holds the argument and x20 the
 * entry function, placed there by goc__ctx_init (x30 points here).
 */
    .text
    .globl goc__ctx_switch
    .hidden goc__ctx_switch
    .type goc__ctx_switch, %function
    .p2align 4
goc__ctx_switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldr x9, [sp, #160]
    msr fpcr, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .size goc__ctx_switch, .-goc__ctx_switch

    .globl goc__ctx_start
    .hidden goc__ctx_start
    .type goc__ctx_start, %function
    .p2align 4
goc__ctx_start:
    mov x0, x19
    blr x20
    brk #0
    .size goc__ctx_start, .-goc__ctx_start

    .section .note.GNU-stack,"",%progbits
