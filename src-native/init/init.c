/*
 * nsgroups-init: pid 1 of a sandbox's pid namespace. A freestanding static program (no libc)
 * that the addon execs from a sealed memfd, so it runs in any root filesystem and holds none of
 * Node's memory (a sandboxed root that can ptrace pid 1 finds nothing here).
 *
 *   argv: nsgroups-init REPORT_FD -- PATH ARGV0 ARGS...   (envp is the command's)
 *
 * It runs the command as its only child, forwards every catchable signal to it, reaps every
 * orphan of the namespace, and reports on REPORT_FD (report.h): SPAWNED once the command's
 * execve succeeded (or ERROR with its errno), then STATUS with the command's raw wait status,
 * so the parent reports { code, signal } exactly. When the command ends, the init exits, and
 * the kernel kills whatever is left in the namespace (pid_namespaces(7)).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "rawsys.h"
#include "report.h"

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

static int report_fd = -1;

static void report(uint32_t kind, int step, int err, int value) {
  struct nsg_report r = {NSG_REPORT_MAGIC, kind, step, err, -1, value};
  nsg_sys3(__NR_write, report_fd, &r, sizeof r);
}

static int parse_fd(const char *s) {
  int v = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000) return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

static void on_signal(int sig) { (void)sig; } /* never runs: all signals stay blocked */

static int is_catchable(int sig) { return sig != SIGKILL && sig != SIGSTOP; }

/* The command's side of the fork: default dispositions, empty mask, exec. */
static __attribute__((noreturn)) void exec_command(int status_fd, char *path, char **argv,
                                                   char **envp) {
  struct nsg_ksigaction dfl = {SIG_DFL, 0, 0, 0};
  for (int sig = 1; sig <= 64; sig++)
    if (is_catchable(sig)) nsg_sys4(__NR_rt_sigaction, sig, &dfl, 0, NSG_SIGSET_SIZE);
  uint64_t empty = 0;
  nsg_sys4(__NR_rt_sigprocmask, SIG_SETMASK, &empty, 0, NSG_SIGSET_SIZE);
  long r = nsg_sys3(__NR_execve, path, argv, envp);
  int err = (int)-r;
  nsg_sys3(__NR_write, status_fd, &err, sizeof err);
  nsg_exit(127);
}

int nsg_init_main(int argc, char **argv, char **envp) {
  if (argc < 5 || (report_fd = parse_fd(argv[1])) < 0) return 127;
  /* the command must not inherit the report pipe: its EOF tells the parent that we are gone */
  nsg_sys3(__NR_fcntl, report_fd, F_SETFD, FD_CLOEXEC);
  nsg_sys2(__NR_prctl, PR_SET_NAME, "nsgroups-init");

  /* A namespace's init receives from outside only the signals it has a handler for
     (pid_namespaces(7)); with a handler and the signal blocked, it waits in the queue for us. */
  struct nsg_ksigaction act = {on_signal, SA_RESTORER, nsg_init_restorer, ~0UL};
  for (int sig = 1; sig <= 64; sig++)
    if (is_catchable(sig)) nsg_sys4(__NR_rt_sigaction, sig, &act, 0, NSG_SIGSET_SIZE);
  uint64_t all = ~0ULL;
  nsg_sys4(__NR_rt_sigprocmask, SIG_SETMASK, &all, 0, NSG_SIGSET_SIZE);

  int exec_pipe[2];
  long r = nsg_sys2(__NR_pipe2, exec_pipe, O_CLOEXEC);
  if (r < 0) {
    report(NSG_REPORT_ERROR, NSG_STEP_FORK, (int)-r, 0);
    return 127;
  }
  long cmd = nsg_fork(0);
  if (cmd < 0) {
    report(NSG_REPORT_ERROR, NSG_STEP_FORK, (int)-cmd, 0);
    return 127;
  }
  if (cmd == 0) {
    nsg_sys1(__NR_close, exec_pipe[0]);
    exec_command(exec_pipe[1], argv[3], argv + 4, envp);
  }
  nsg_sys1(__NR_close, exec_pipe[1]);
  int exec_err = 0;
  do r = nsg_sys3(__NR_read, exec_pipe[0], &exec_err, sizeof exec_err);
  while (r == -EINTR);
  nsg_sys1(__NR_close, exec_pipe[0]);
  if (r == sizeof exec_err) {
    report(NSG_REPORT_ERROR, NSG_STEP_EXECVE, exec_err, 0);
    int st;
    nsg_sys4(__NR_wait4, cmd, &st, 0, 0);
    return 127;
  }
  report(NSG_REPORT_SPAWNED, NSG_STEP_INIT, 0, (int)cmd);

  /* Forward what arrives; reap everything; stop when the command has ended. */
  for (;;) {
    siginfo_t info;
    long sig = nsg_sys4(__NR_rt_sigtimedwait, &all, &info, 0, NSG_SIGSET_SIZE);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      nsg_sys2(__NR_kill, cmd, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      long pid = nsg_sys4(__NR_wait4, -1, &status, WNOHANG | __WALL, 0);
      if (pid <= 0) break;
      if (pid == cmd) {
        report(NSG_REPORT_STATUS, NSG_STEP_INIT, 0, status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
  }
}
