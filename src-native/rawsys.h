/*
 * Raw system calls for code that runs where libc must not: the child between clone and execve
 * (it may share the Node process's memory and thread pointer, so glibc's errno, locks and
 * set*id broadcasts are off limits) and the freestanding init. Every call returns the kernel's
 * raw result: a negative errno on failure, never -1 with errno set.
 */
#ifndef NSGROUPS_RAWSYS_H
#define NSGROUPS_RAWSYS_H

#include <asm/errno.h>
#include <asm/unistd.h>

#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_open_tree
#define __NR_open_tree 428
#endif
#ifndef __NR_move_mount
#define __NR_move_mount 429
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif

#if defined(__x86_64__)

static inline long nsg_sys6(long nr, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ __volatile__("syscall"
                       : "=a"(ret)
                       : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                       : "rcx", "r11", "memory");
  return ret;
}

#elif defined(__aarch64__)

static inline long nsg_sys6(long nr, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ __volatile__("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}

#else
#error "nsgroups: unsupported architecture (x86_64 and aarch64 only)"
#endif

#define nsg_sys0(nr) nsg_sys6((nr), 0, 0, 0, 0, 0, 0)
#define nsg_sys1(nr, a) nsg_sys6((nr), (long)(a), 0, 0, 0, 0, 0)
#define nsg_sys2(nr, a, b) nsg_sys6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define nsg_sys3(nr, a, b, c) nsg_sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define nsg_sys4(nr, a, b, c, d) nsg_sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define nsg_sys5(nr, a, b, c, d, e) nsg_sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The kernel's struct sigaction for rt_sigaction (not glibc's: different layout and size). */
struct nsg_ksigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)(void);
  unsigned long mask; /* _NSIG / 8 == 8 bytes on x86_64 and aarch64 */
};
#define NSG_SIGSET_SIZE 8

static inline __attribute__((noreturn)) void nsg_exit(int code) {
  for (;;) nsg_sys1(__NR_exit_group, code);
}

/*
 * A fork-style child (no new stack: it returns twice, like fork) with `flags` (clone(2) flags
 * that fit the legacy call, no exit signal bits), exiting with SIGCHLD. clone3 first; the legacy
 * clone where clone3 is refused (before Linux 5.3, or a seccomp filter such as Docker's default
 * profile that answers ENOSYS).
 */
static inline long nsg_fork(unsigned long flags) {
  /* with CLONE_PARENT the child's exit signal is its new parent's choice: clone3 insists on 0 */
  unsigned long long exit_signal = (flags & 0x00008000 /* CLONE_PARENT */) ? 0 : 17 /* SIGCHLD */;
  struct {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args = {flags, 0, 0, 0, exit_signal, 0, 0, 0};
  long pid = nsg_sys2(__NR_clone3, &args, sizeof args);
  if (pid != -ENOSYS) return pid;
  return nsg_sys5(__NR_clone, flags | 17, 0, 0, 0, 0);
}

static inline unsigned long nsg_strlen(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}

#endif
