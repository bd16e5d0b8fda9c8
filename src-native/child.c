/*
 * The sandboxed child, from clone to execve. It may share the Node process's memory (CLONE_VM),
 * so it obeys the rules of a vfork child: raw system calls only (rawsys.h), no allocation, no
 * locks, no errno, no writes outside its own stack; the plan it runs is read-only. Each step that
 * fails reports {step, errno, index} on the report pipe and exits 127 (Go's forkAndExecInChild1
 * has the same single failure exit). The order is the kernel's, see DESIGN.md "The spawn path".
 *
 * With a pid namespace made or joined after clone (fork_into_pidns), this first process only
 * makes the namespaces: it forks the init (pid 1, when asked) and the command's process into
 * the pid namespace as the parent's own children (CLONE_PARENT), reports their pids and exits.
 * So the command is the Node process's child — its exact wait status and rusage go straight to
 * the parent, and no process of the sandbox ever holds a descriptor of the library's: the init
 * is a reaper with no file descriptors at all, and the report pipe closes on every exec.
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "child_fs.h"
#include "child_privs.h"
#include "rawsys.h"
#include "report.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What one process of the spawn tracks while it runs the plan. */
struct child {
  const struct nsg_plan *plan;
  int report_fd;
  int sync_fd;
};

static void report(const struct child *c, uint32_t kind, int step, int err, int index, int value) {
  struct nsg_report r = {NSG_REPORT_MAGIC, kind, step, err, index, value};
  nsg_sys3(__NR_write, c->report_fd, &r, sizeof r);
}

static __attribute__((noreturn)) void fail_item(const struct child *c, int step, long ret, int index, int item) {
  report(c, NSG_REPORT_ERROR, step, (int)-ret, index, item);
  nsg_exit(127);
}

static __attribute__((noreturn)) void fail(const struct child *c, int step, long ret, int index) {
  fail_item(c, step, ret, index, -1);
}

#define CHECK(step, index, call)                           \
  do {                                                     \
    long ret_ = (call);                                    \
    if (ret_ < 0) fail(c, NSG_STEP_##step, ret_, (index)); \
  } while (0)

/* Blocks until the parent writes a go-ahead byte; EOF means the parent is gone or gave up. */
static void wait_for_parent(const struct child *c) {
  char go;
  long r;
  do r = nsg_sys3(__NR_read, c->sync_fd, &go, 1);
  while (r == -EINTR);
  if (r == 0) nsg_exit(127);
  if (r < 0) fail(c, NSG_STEP_SYNC, r, -1);
}

/* Asks the parent to act on our behalf (write id maps, time offsets) and waits until it has. */
static void request_parent(const struct child *c, int step, int what) {
  report(c, NSG_REPORT_REQUEST, step, 0, -1, what);
  wait_for_parent(c);
}

/* The parent keeps the write end of the sync pipe open until we exec: a hangup means it died. */
static int parent_alive(const struct child *c) {
  struct pollfd pfd = {c->sync_fd, POLLIN, 0};
  struct timespec zero = {0, 0};
  long r = nsg_sys5(__NR_ppoll, &pfd, 1, &zero, 0, NSG_SIGSET_SIZE);
  return !(r > 0 && (pfd.revents & (POLLHUP | POLLERR)));
}

static void set_dumpable(const struct child *c, int dumpable) {
  CHECK(DUMPABLE, -1, nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, dumpable));
}

/* The parent-death signal: cleared by fork and by any change of euid/egid (prctl(2)), so set
   again after each, and checked against a parent that died before it was set. */
static void set_pdeathsig(const struct child *c) {
  if (!c->plan->pdeathsig) return;
  CHECK(PDEATHSIG, -1, nsg_sys2(__NR_prctl, PR_SET_PDEATHSIG, c->plan->pdeathsig));
  if (!parent_alive(c)) nsg_exit(127);
}

static void reset_signal_dispositions(void) {
  /* Node's handlers must not run here, and ignored signals (Node ignores SIGPIPE) would stay
     ignored across execve (signal(7)); all are blocked until the plan is done. */
  struct nsg_ksigaction dfl = {SIG_DFL, 0, 0, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    nsg_sys4(__NR_rt_sigaction, sig, &dfl, 0, NSG_SIGSET_SIZE);
  }
}

static long mark_all_cloexec(unsigned int from) {
  long r = nsg_sys3(__NR_close_range, from, ~0U, CLOSE_RANGE_CLOEXEC);
  if (r == -ENOSYS || r == -EINVAL) { /* before Linux 5.11: one fd at a time */
    struct {
      unsigned long cur, max;
    } lim;
    r = nsg_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, &lim);
    unsigned long top = r < 0 || lim.cur > 65536 ? 65536 : lim.cur;
    for (unsigned long fd = from; fd < top; fd++) nsg_sys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC);
    r = 0;
  }
  return r;
}

/* execvp's PATH walk (not there: next; there but not executable: remember EACCES), done before
   exec so that a missing command is an error record for the parent. */
static const char *resolve_command(const struct child *c, char *const *candidates, int count) {
  long denied = 0, other = 0;
  for (int i = 0; i < count; i++) {
    const char *path = candidates[i];
    struct stat st;
    long r = nsg_sys4(__NR_newfstatat, AT_FDCWD, path, &st, 0);
    /* a directory of PATH we may not search hides the file: not found there, like a shell says */
    if (r == -EACCES || r == -ENOENT || r == -ENOTDIR || r == -ENAMETOOLONG || r == -ELOOP) continue;
    if (r == 0 && !S_ISREG(st.st_mode)) r = -EACCES;
    if (r == 0) r = nsg_sys3(__NR_faccessat, AT_FDCWD, path, X_OK);
    if (r == 0) return path;
    if (r == -EACCES) denied = r;
    else other = r;
  }
  fail(c, NSG_STEP_EXECVE, denied ? denied : other ? other : -ENOENT, -1);
}

/* Installs stdio[i] as fd i (Go's two passes: first lift sources that a lower slot would
   overwrite), then marks every other fd close-on-exec so that nothing else leaks. */
static void setup_fds(const struct child *c, const int32_t *stdio, int n) {
  int src[NSG_MAX_STDIO];
  if (n > NSG_MAX_STDIO) fail(c, NSG_STEP_STDIO, -EINVAL, -1);
  for (int i = 0; i < n; i++) src[i] = stdio[i];
  for (int i = 0; i < n; i++) {
    if (src[i] >= 0 && src[i] < i) {
      long fd = nsg_sys3(__NR_fcntl, src[i], F_DUPFD_CLOEXEC, n);
      if (fd < 0) fail(c, NSG_STEP_STDIO, fd, i);
      src[i] = (int)fd;
    }
  }
  for (int i = 0; i < n; i++) {
    if (src[i] < 0) {
      nsg_sys1(__NR_close, i);
    } else if (src[i] == i) {
      CHECK(STDIO, i, nsg_sys3(__NR_fcntl, i, F_SETFD, 0));
    } else {
      CHECK(STDIO, i, nsg_sys3(__NR_dup3, src[i], i, 0));
    }
    /* Programs expect blocking stdio: one handed over from a Node stream (process.stdin, another
       sandbox's pipe) is O_NONBLOCK, and tr or wc then fail with EAGAIN. libuv clears it on fds
       0-2 too (uv__process_child_init). The flag is the open file description's (fcntl(2)):
       shared with whoever else holds it, as in child_process. */
    if (i <= 2 && src[i] >= 0) {
      long fl = nsg_sys2(__NR_fcntl, i, F_GETFL);
      if (fl < 0) fail(c, NSG_STEP_STDIO, fl, i);
      if (fl & O_NONBLOCK) CHECK(STDIO, i, nsg_sys3(__NR_fcntl, i, F_SETFL, fl & ~(long)O_NONBLOCK));
    }
  }
  CHECK(CLOSE_FDS, -1, mark_all_cloexec((unsigned int)n));
}

static void drop_privileges(const struct child *c, int with_seccomp);
static void install_seccomp(const struct child *c);
static __attribute__((noreturn)) void exec_command(const struct child *c, const char *path, char *const *argv,
                                                   char *const *envp);
static __attribute__((noreturn)) void park_then_exec(const struct child *c);

static void privs(const struct child *c, struct nsg_privs_result r) {
  if (r.err < 0) fail(c, r.step, r.err, r.index);
}

static void set_ids(const struct child *c, uint32_t uid, uint32_t gid) {
  CHECK(SETRESGID, -1, nsg_sys3(__NR_setresgid, gid, gid, gid));
  CHECK(SETRESUID, -1, nsg_sys3(__NR_setresuid, uid, uid, uid));
}

/* runc's order: first what the caller's own privileges allow, then the user namespace, then
   what needed the capabilities it grants (namespaces owned by the joined user namespace). A
   member of a joined namespace could ptrace us and read the parent's memory we carry (a fork
   of Node): non-dumpable until exec resets it (CVE-2016-9962). */
static void join_namespaces(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  uint64_t deferred = 0; /* bit i: join i waits for the user namespace */
  int user = -1;
  if (p->nondumpable) set_dumpable(c, 0);
  for (int i = 0; i < p->joins_count && i < 64; i++) {
    if (p->joins[i].nstype == CLONE_NEWUSER) {
      user = i;
      continue;
    }
    long r = nsg_sys2(__NR_setns, p->joins[i].fd, p->joins[i].nstype);
    if (r == -EPERM) deferred |= 1ULL << i;
    else if (r < 0) fail(c, NSG_STEP_SETNS, r, i);
  }
  if (user >= 0) CHECK(SETNS, user, nsg_sys2(__NR_setns, p->joins[user].fd, CLONE_NEWUSER));
  for (int i = 0; i < p->joins_count && i < 64; i++)
    if (deferred & (1ULL << i)) CHECK(SETNS, i, nsg_sys2(__NR_setns, p->joins[i].fd, p->joins[i].nstype));
}

/* Steps 6-9, in the process that becomes the command. */
static __attribute__((noreturn)) void run_sandbox(const struct child *c) {
  const struct nsg_plan *p = c->plan;

  /* 6. propagation, hostname, mounts, pivot_root, loopback: in the order the plan gives. The
        caller's own id may be unmapped in a new user namespace: it could then own nothing in a
        filesystem mounted there (EOVERFLOW), so the plan takes the sandbox's identity before
        the first such mount (NSG_OP_EARLY_IDS) */
  int root_fd = -1;
  for (int i = 0; i < p->ops_count; i++) {
    if (p->ops[i].kind == NSG_OP_EARLY_IDS) {
      if (!p->early_ids) fail(c, NSG_STEP_PLAN, -EINVAL, i);
      set_ids(c, p->early_uid, p->early_gid);
      set_pdeathsig(c);
      continue;
    }
    struct nsg_op_result r = nsg_run_op(&p->ops[i], &root_fd);
    if (r.err < 0) fail_item(c, r.step, r.err, i, r.item);
  }
  if (root_fd >= 0) fail(c, NSG_STEP_PLAN, -EINVAL, -1); /* a root without pivot_root */
  if (p->park) park_then_exec(c); /* a pool's sandbox: 8 now, 7 and 9 at the hand-over */

  /* 7. working directory, then the command as this root and cwd see it */
  if (p->cwd) CHECK(CHDIR, -1, nsg_sys1(__NR_chdir, p->cwd));
  const char *path = resolve_command(c, p->candidates, p->candidates_count);

  /* 8. fds, then limits, identity and what it may do */
  setup_fds(c, p->stdio, p->stdio_count);
  drop_privileges(c, 1);

  /* 9. exec with an empty signal mask; the report pipe closes with it */
  exec_command(c, path, p->argv, p->envp);
}

/* The bounding set and the limits while the capabilities to change them are there; the ids
   with KEEPCAPS (a change from uid 0 would clear permitted, capabilities(7)); then every
   capability set to what is kept; the seccomp filter last, when `with_seccomp`. */
static void drop_privileges(const struct child *c, int with_seccomp) {
  const struct nsg_plan *p = c->plan;
  privs(c, nsg_set_rlimits(p->rlimits, p->rlimits_count));
  if (p->drop_caps) {
    if (p->set_ids) CHECK(KEEPCAPS, -1, nsg_sys2(__NR_prctl, PR_SET_KEEPCAPS, 1));
    privs(c, nsg_drop_bounding_set(p->keep_caps));
  }
  if (p->set_groups) CHECK(SETGROUPS, -1, nsg_sys2(__NR_setgroups, p->groups_count, p->groups));
  if (p->set_ids) set_ids(c, p->uid, p->gid);
  if (p->new_keyring) privs(c, nsg_join_new_keyring());
  if (p->drop_caps) privs(c, nsg_set_capabilities(p->keep_caps));
  if (p->no_new_privs) CHECK(NO_NEW_PRIVS, -1, nsg_sys5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  set_pdeathsig(c);
  if (with_seccomp) install_seccomp(c);
}

static void install_seccomp(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  privs(c, nsg_install_seccomp(p->seccomp_filter, p->seccomp_filter_count, p->seccomp_flags));
}

static __attribute__((noreturn)) void exec_command(const struct child *c, const char *path, char *const *argv,
                                                   char *const *envp) {
  uint64_t empty = 0;
  nsg_sys4(__NR_rt_sigprocmask, SIG_SETMASK, &empty, 0, NSG_SIGSET_SIZE);
  long r = nsg_sys3(__NR_execve, path, argv, envp);
  fail(c, NSG_STEP_EXECVE, r, -1);
}

/* Closes every fd but the two we talk to the parent on: a parked process may wait for minutes,
   and must not keep the parent's files, sockets and pipe ends open that long (a copy of each
   is in our table, from clone). */
static void close_all_but(const struct child *c, int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  long r = 0;
  if (lo > 0) r = nsg_sys3(__NR_close_range, 0, lo - 1, 0);
  if (r >= 0 && hi > lo + 1) r = nsg_sys3(__NR_close_range, lo + 1, hi - 1, 0);
  if (r >= 0) r = nsg_sys3(__NR_close_range, hi + 1, ~0U, 0);
  if (r == -ENOSYS || r == -EINVAL) { /* before Linux 5.9: one at a time */
    for (int fd = 0; fd < 65536; fd++)
      if (fd != a && fd != b) nsg_sys1(__NR_close, fd);
    r = 0;
  }
  if (r < 0) fail(c, NSG_STEP_CLOSE_FDS, r, -1);
}

/* Waits for the hand-over message: one byte and the stdio fds. EOF: the pool let us go. */
static int receive_handover(const struct child *c, int32_t *fds, int max) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int32_t) * NSG_MAX_STDIO)];
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  long r;
  do r = nsg_sys3(__NR_recvmsg, c->sync_fd, &msg, MSG_CMSG_CLOEXEC);
  while (r == -EINTR);
  if (r == 0) nsg_exit(127);
  if (r < 0) fail(c, NSG_STEP_HANDOVER, r, -1);
  if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) fail(c, NSG_STEP_HANDOVER, -EMFILE, -1);
  if (msg.msg_controllen < sizeof(struct cmsghdr)) return 0;
  /* the only header there is (CMSG_NXTHDR is a libc function, not for this side of clone) */
  const struct cmsghdr *h = (const struct cmsghdr *)control.buf;
  if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len < CMSG_LEN(0))
    fail(c, NSG_STEP_HANDOVER, -EPROTO, -1);
  int n = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int32_t));
  if (n > max) fail(c, NSG_STEP_HANDOVER, -EPROTO, -1);
  const int32_t *in = (const int32_t *)CMSG_DATA(h);
  for (int i = 0; i < n; i++) fds[i] = in[i];
  return n;
}

/* A warm pool's sandbox: everything but the command is done now (namespaces, mounts, root,
   identity, capabilities, limits, the filter); it tells the parent, waits for the command
   (struct nsg_handover), then does what needs the command: 7, the fds of 8, and 9. */
static __attribute__((noreturn)) void park_then_exec(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  /* a fork-style child carries a copy of the parent's memory: out of reach (ptrace,
     /proc/PID/mem) while it waits; execve makes the command dumpable again. (A CLONE_VM child
     must not: the flag belongs to the memory, the parent's own.) */
  if (!p->use_vm) set_dumpable(c, 0);
  close_all_but(c, c->sync_fd, c->report_fd);
  drop_privileges(c, !p->seccomp_at_handover);
  report(c, NSG_REPORT_REQUEST, NSG_STEP_HANDOVER, 0, -1, NSG_REQUEST_PARKED);

  int32_t fds[NSG_MAX_STDIO];
  int n = receive_handover(c, fds, NSG_MAX_STDIO);
  const struct nsg_handover *h = p->handover;
  if (h->magic != NSG_HANDOVER_MAGIC || h->fds_count != n || h->stdio_count < 0 || h->stdio_count > NSG_MAX_STDIO)
    fail(c, NSG_STEP_HANDOVER, -EPROTO, -1);
  int32_t stdio[NSG_MAX_STDIO];
  for (int i = 0; i < h->stdio_count; i++) {
    int k = h->stdio[i];
    if (k < -1 || k >= n) fail(c, NSG_STEP_HANDOVER, -EPROTO, i);
    stdio[i] = k < 0 ? -1 : fds[k];
  }
  if (h->cwd) CHECK(CHDIR, -1, nsg_sys1(__NR_chdir, h->cwd));
  const char *path = resolve_command(c, h->candidates, h->candidates_count);
  setup_fds(c, stdio, h->stdio_count);
  if (p->seccomp_at_handover) install_seccomp(c);
  exec_command(c, path, h->argv, h->envp);
}

/* pid 1 of a new pid namespace, a vfork-style child: its first child (us) is suspended until it
   has exec'd the init, so it is never a copy of the parent (memory, fds) beside the command,
   which could reach it through /proc/1 or ptrace. Every fd is made close-on-exec first (the
   init's own executable is loaded before they close): the init runs with none. */
static int init_main(void *arg) {
  const struct nsg_plan *p = arg;
  struct child child = {p, p->report_fd, p->sync_fd};
  const struct child *c = &child;
  set_pdeathsig(c);
  CHECK(CLOSE_FDS, -1, mark_all_cloexec(0));
  /* the init needs no capability at all to reap: it runs with none (empty bounding set, so its
     execve as root grants none), no new privileges, and the command's seccomp filter */
  if (p->drop_caps) {
    privs(c, nsg_drop_bounding_set(0));
    privs(c, nsg_set_capabilities(0));
  }
  if (p->no_new_privs) CHECK(NO_NEW_PRIVS, -1, nsg_sys5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  privs(c, nsg_install_seccomp(p->seccomp_filter, p->seccomp_filter_count, p->seccomp_flags));
  char *argv[] = {(char *)"nsgroups-init", 0};
  char *envp[] = {0};
  long r = nsg_sys5(__NR_execveat, p->init_fd, "", argv, envp, AT_EMPTY_PATH);
  fail(c, NSG_STEP_INIT, r, -1);
}

/* The command's process in the pid namespace: it waits until the parent has its pid. */
static int command_main(void *arg) {
  const struct nsg_plan *p = arg;
  struct child child = {p, p->report_fd, p->sync_fd};
  const struct child *c = &child;
  set_pdeathsig(c);
  wait_for_parent(c);
  run_sandbox(c);
}

/* A child of our parent (CLONE_PARENT) running fn: on its own stack when we share the parent's
   memory, else fork-style; `extra` adds clone flags (CLONE_VFORK). clone3 insists on exit
   signal 0 with CLONE_PARENT: the child gets ours. Falls back to the legacy clone where clone3
   is refused. */
static long fork_sibling(const struct child *c, const struct nsg_stack *stack, int (*fn)(void *), unsigned long extra) {
  const struct nsg_plan *p = c->plan;
  if (!p->use_vm) {
    long pid = nsg_fork(CLONE_PARENT | extra);
    if (pid == 0) nsg_exit(fn((void *)p));
    return pid;
  }
  struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  } args = {CLONE_PARENT | CLONE_VM | extra, 0, 0, 0, 0, (uint64_t)(unsigned long)stack->base, stack->size, 0};
  long pid = nsg_clone_call(__NR_clone3, (long)&args, sizeof args, 0, 0, 0, fn, (void *)p);
  if (pid != -ENOSYS) return pid;
  long top = (long)stack->base + (long)stack->size;
  return nsg_clone_call(__NR_clone, (long)(CLONE_PARENT | CLONE_VM | extra | SIGCHLD), top, 0, 0, 0, fn, (void *)p);
}

int nsg_child_main(void *arg) {
  const struct nsg_plan *p = arg;
  struct child child = {p, p->report_fd, p->sync_fd};
  const struct child *c = &child;

  /* 1. signals, death of the parent */
  reset_signal_dispositions();
  set_pdeathsig(c);

  /* 1b. into the cgroups the clone could not put us in (the v1 hierarchies; cgroup2 without
         CLONE_INTO_CGROUP), before anything is forked. The parent opened the files: the kernel
         checks the opener's credentials, not ours (cgroup-v1.c __cgroup1_procs_write,
         cgroup.c __cgroup_procs_write, since Linux 5.16), and the migration's wait for an RCU
         grace period is ours, not the Node thread's. */
  for (int i = 0; i < p->procs_fds_count; i++) {
    CHECK(CGROUP, i, nsg_sys3(__NR_write, (int)p->procs_fds[i], "0", 1));
    nsg_sys1(__NR_close, (int)p->procs_fds[i]);
  }

  /* 2. the parent's go-ahead: id maps written */
  nsg_sys1(__NR_close, p->sync_peer_fd);
  wait_for_parent(c);
  if (p->new_session) CHECK(SETSID, -1, nsg_sys0(__NR_setsid));

  /* 3. existing namespaces before new ones: after CLONE_NEWUSER, setns into a namespace the
        host owns is EPERM (runc nsexec.c join_namespaces) */
  if (p->joins_count) join_namespaces(c);
  if (p->unshare_user) {
    CHECK(UNSHARE, -1, nsg_sys1(__NR_unshare, CLONE_NEWUSER));
    /* the parent writes our maps through /proc/PID, which a non-dumpable process hides */
    if (p->nondumpable) set_dumpable(c, 1);
    request_parent(c, NSG_STEP_ID_MAPS, NSG_REQUEST_ID_MAPS);
    if (p->nondumpable) set_dumpable(c, 0);
  }
  if (p->unshare_flags) CHECK(UNSHARE, -1, nsg_sys1(__NR_unshare, p->unshare_flags));

  /* 4. a time namespace's offsets can only be written before a process enters it
        (time_namespaces(7)): unshare, let the parent write them, then enter */
  if (p->unshare_time) {
    CHECK(TIMENS, -1, nsg_sys1(__NR_unshare, CLONE_NEWTIME));
    if (p->nondumpable) set_dumpable(c, 1); /* /proc/PID for the parent */
    request_parent(c, NSG_STEP_TIMENS, NSG_REQUEST_TIME_OFFSETS);
    if (p->nondumpable) set_dumpable(c, 0);
    long fd = nsg_sys4(__NR_openat, AT_FDCWD, "/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) fail(c, NSG_STEP_TIMENS, fd, -1);
    CHECK(TIMENS, -1, nsg_sys2(__NR_setns, fd, CLONE_NEWTIME));
    nsg_sys1(__NR_close, fd);
  }

  /* 5. a cgroup namespace is rooted where we are when it is made: after the cgroup move */
  if (p->unshare_cgroup_late) CHECK(CGROUPNS, -1, nsg_sys1(__NR_unshare, CLONE_NEWCGROUP));

  if (!p->fork_into_pidns) run_sandbox(c);

  /* A pid namespace made or joined after clone holds only our children: the first of them is
     its pid 1. Fork the init first (it must live while the command's process is forked in) and
     wait until it has exec'd (CLONE_VFORK); then the command's process, which waits until the
     parent, told both pids here, lets it go on. */
  if (p->init) {
    long init = fork_sibling(c, &p->init_stack, init_main, CLONE_VFORK);
    if (init < 0) fail(c, NSG_STEP_FORK, init, NSG_ROLE_INIT);
    report(c, NSG_REPORT_CHILD_PID, NSG_STEP_FORK, 0, NSG_ROLE_INIT, (int)init);
  }
  long command = fork_sibling(c, &p->command_stack, command_main, 0);
  if (command < 0) fail(c, NSG_STEP_FORK, command, NSG_ROLE_COMMAND);
  report(c, NSG_REPORT_CHILD_PID, NSG_STEP_FORK, 0, NSG_ROLE_COMMAND, (int)command);
  nsg_exit(0);
}
