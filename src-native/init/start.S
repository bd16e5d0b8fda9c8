/* _start of the freestanding init: nsg_init_main(argc, argv, envp), then exit_group. */
#if defined(__x86_64__)
        .text
        .globl  _start
        .type   _start, @function
_start:
        xor     %ebp, %ebp
        mov     (%rsp), %rdi
        lea     8(%rsp), %rsi
        lea     16(%rsp,%rdi,8), %rdx
        and     $-16, %rsp
        call    nsg_init_main
        mov     %eax, %edi
        mov     $231, %eax
        syscall
        hlt
        .size   _start, .-_start

        /* rt_sigreturn trampoline: the kernel needs one for any handler (SA_RESTORER) */
        .globl  nsg_init_restorer
        .type   nsg_init_restorer, @function
nsg_init_restorer:
        mov     $15, %eax
        syscall
        hlt
        .size   nsg_init_restorer, .-nsg_init_restorer
#elif defined(__aarch64__)
        .text
        .globl  _start
        .type   _start, %function
_start:
        mov     x29, #0
        mov     x30, #0
        ldr     x0, [sp]
        add     x1, sp, #8
        add     x2, x1, x0, lsl #3
        add     x2, x2, #8
        bl      nsg_init_main
        mov     x8, #94
        svc     #0
        brk     #0
        .size   _start, .-_start

        .globl  nsg_init_restorer
        .type   nsg_init_restorer, %function
nsg_init_restorer:
        mov     x8, #139
        svc     #0
        brk     #0
        .size   nsg_init_restorer, .-nsg_init_restorer
#else
#error "nsgroups: unsupported architecture"
#endif
        .section .note.GNU-stack,"",%progbits
