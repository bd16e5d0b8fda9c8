/*
 * nsgroups-init: pid 1 of a sandbox's pid namespace. A freestanding static program (no libc)
 * that the addon execs from a sealed memfd, so it runs in any root filesystem and holds none of
 * Node's memory.
 *
 * It is a reaper and nothing else. The command is not its child: it is the Node process's own
 * (child.c forks both with CLONE_PARENT), so the parent waits for it, signals it and reads its
 * exact status itself, and then kills this init, which ends the namespace with everything left
 * in it (pid_namespaces(7)). What the init must do is reap the orphans that the namespace
 * reparents to it. It runs with no file descriptors, no arguments and no environment, and makes
 * itself non-dumpable, so that a command which reaches it (ptrace, /proc/1) finds nothing of
 * the library's there: no pipe to forge reports on, no memory worth reading.
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "rawsys.h"

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

void nsg_init_restorer(void);
int nsg_init_main(int argc, char **argv, char **envp);

/* The compiler may emit calls to these for struct copies even when freestanding. */
void *memset(void *dst, int c, unsigned long n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}
void *memcpy(void *dst, const void *src, unsigned long n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

static void on_signal(int sig) {
  (void)sig;
} /* never runs: every signal stays blocked */

int nsg_init_main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  if (nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 0) < 0) return 127;
  nsg_sys2(__NR_prctl, PR_SET_NAME, "nsgroups-init");

  /* Every signal blocked: a namespace's init gets from its own namespace only the signals it
     has a handler for (pid_namespaces(7)), and with the handler below only SIGCHLD qualifies;
     it waits in the queue until sigtimedwait takes it. SIGKILL from the parent ends us. */
  struct nsg_ksigaction act = {on_signal, SA_RESTORER, nsg_init_restorer, ~0UL};
  nsg_sys4(__NR_rt_sigaction, SIGCHLD, &act, 0, NSG_SIGSET_SIZE);
  uint64_t all = ~0ULL;
  nsg_sys4(__NR_rt_sigprocmask, SIG_SETMASK, &all, 0, NSG_SIGSET_SIZE);
  uint64_t chld = 1ULL << (SIGCHLD - 1);

  for (;;) {
    long sig = nsg_sys4(__NR_rt_sigtimedwait, &chld, 0, 0, NSG_SIGSET_SIZE);
    if (sig != SIGCHLD) continue;
    while (nsg_sys4(__NR_wait4, -1, 0, WNOHANG | __WALL, 0) > 0) {}
  }
}
