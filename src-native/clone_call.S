/*
 * long nsg_clone_call(long nr, long a0, long a1, long a2, long a3, long a4,
 *                     int (*fn)(void *), void *arg)
 *
 * Makes the clone/clone3 system call `nr`; in the child, calls fn(arg) and exit_group()s with
 * its result. A CLONE_VM child starts on the stack given in the clone arguments, where no caller
 * frame exists to return to, so it must never return from this function (glibc's clone() is the
 * same trampoline; glibc 2.36 exports none for clone3). Fork-style children take the same path.
 */
#if defined(__x86_64__)
        .text
        .globl  nsg_clone_call
        .hidden nsg_clone_call
        .type   nsg_clone_call, @function
nsg_clone_call:
        push    %r12
        push    %r13
        mov     24(%rsp), %r12          /* fn  (7th argument, on the caller's stack) */
        mov     32(%rsp), %r13          /* arg (8th) */
        mov     %rdi, %rax
        mov     %rsi, %rdi
        mov     %rdx, %rsi
        mov     %rcx, %rdx
        mov     %r8, %r10
        mov     %r9, %r8
        syscall                         /* clobbers rcx and r11 only */
        test    %rax, %rax
        jz      1f
        pop     %r13
        pop     %r12
        ret
1:      xor     %ebp, %ebp              /* child: outermost frame */
        and     $-16, %rsp
        mov     %r13, %rdi
        call    *%r12
        mov     %eax, %edi
        mov     $231, %eax              /* exit_group */
        syscall
        hlt
        .size   nsg_clone_call, .-nsg_clone_call
#elif defined(__aarch64__)
        .text
        .globl  nsg_clone_call
        .hidden nsg_clone_call
        .type   nsg_clone_call, %function
nsg_clone_call:
        mov     x8, x0
        mov     x0, x1
        mov     x1, x2
        mov     x2, x3
        mov     x3, x4
        mov     x4, x5
        mov     x9, x6                  /* the kernel preserves every register but x0 */
        mov     x10, x7
        svc     #0
        cbz     x0, 1f
        ret
1:      mov     x29, #0
        mov     x30, #0
        mov     x0, x10
        blr     x9
        mov     x8, #94                 /* exit_group */
        svc     #0
        brk     #0
        .size   nsg_clone_call, .-nsg_clone_call
#else
#error "nsgroups: unsupported architecture"
#endif
        .section .note.GNU-stack,"",%progbits
