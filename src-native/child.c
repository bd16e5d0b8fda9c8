/*
 * The sandboxed child, from clone to execve. It may share the Node process's memory (CLONE_VM),
 * so it obeys the rules of a vfork child: raw system calls only (rawsys.h), no allocation, no
 * locks, no errno, no writes outside its own stack; the plan it runs is read-only. Each step that
 * fails reports {step, errno, index} on the report pipe and exits 127 (Go's forkAndExecInChild1
 * has the same single failure exit). The order is the kernel's, see DESIGN.md "The spawn path".
 */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "rawsys.h"
#include "report.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct nsg_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* What the child tracks while it runs: fds may move away from the stdio slots. */
struct child {
  const struct nsg_plan *plan;
  int report_fd;
  int sync_fd;
};

static void report(const struct child *c, uint32_t kind, int step, int err, int index, int value) {
  struct nsg_report r = {NSG_REPORT_MAGIC, kind, step, err, index, value};
  nsg_sys3(__NR_write, c->report_fd, &r, sizeof r);
}

static __attribute__((noreturn)) void fail(const struct child *c, int step, long ret, int index) {
  report(c, NSG_REPORT_ERROR, step, (int)-ret, index, 0);
  nsg_exit(127);
}

#define CHECK(step, index, call)                              \
  do {                                                        \
    long ret_ = (call);                                       \
    if (ret_ < 0) fail(c, NSG_STEP_##step, ret_, (index));    \
  } while (0)

/* Blocks until the parent writes its go-ahead byte; EOF means the parent is gone or gave up. */
static void wait_for_parent(const struct child *c) {
  char go;
  long r = nsg_sys3(__NR_read, c->sync_fd, &go, 1);
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

static void reset_signal_dispositions(void) {
  /* Node's handlers must not run here, and ignored signals (Node ignores SIGPIPE) would stay
     ignored across execve (signal(7)); all are blocked until the plan is done. */
  struct nsg_ksigaction dfl = {SIG_DFL, 0, 0, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    nsg_sys4(__NR_rt_sigaction, sig, &dfl, 0, NSG_SIGSET_SIZE);
  }
}

/* mkdir -p: each missing component of path, with mode. Mount points usually exist, or only the
   last component is missing: try that first, and walk from the top only on ENOENT. */
static long make_dirs(const char *path, uint32_t mode) {
  long first = nsg_sys3(__NR_mkdirat, AT_FDCWD, path, mode);
  if (first == 0 || first == -EEXIST) return 0;
  if (first != -ENOENT) return first;
  char buf[4096];
  unsigned long n = nsg_strlen(path);
  if (n == 0 || n >= sizeof buf) return -ENAMETOOLONG;
  for (unsigned long i = 0; i <= n; i++) buf[i] = path[i];
  for (unsigned long i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char saved = buf[i];
    buf[i] = 0;
    long r = nsg_sys3(__NR_mkdirat, AT_FDCWD, buf, mode);
    buf[i] = saved;
    if (r < 0 && r != -EEXIST) return r;
  }
  return 0;
}

static long make_file(const char *path, uint32_t mode) {
  long fd = nsg_sys4(__NR_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, mode);
  if (fd == -EISDIR) return 0;
  if (fd < 0) return fd;
  nsg_sys1(__NR_close, fd);
  return 0;
}

/* A bind remount may not clear flags the kernel locked on the mount when it crossed into a less
   privileged mount namespace (mount_namespaces(7)), so carry over what is set now. */
static long remount(const char *path, uint64_t flags) {
  struct statfs st;
  long r = nsg_sys2(__NR_statfs, path, &st);
  if (r < 0) return r;
  unsigned long keep = (unsigned long)st.f_flags &
                       (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  return nsg_sys5(__NR_mount, 0, path, 0, MS_BIND | MS_REMOUNT | keep | flags, 0);
}

static long loopback_up(void) {
  long s = nsg_sys3(__NR_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return s;
  struct ifreq ifr;
  for (unsigned long i = 0; i < sizeof ifr; i++) ((char *)&ifr)[i] = 0;
  ifr.ifr_name[0] = 'l';
  ifr.ifr_name[1] = 'o';
  long r = nsg_sys3(__NR_ioctl, s, SIOCGIFFLAGS, &ifr);
  if (r >= 0) {
    ifr.ifr_flags |= IFF_UP;
    r = nsg_sys3(__NR_ioctl, s, SIOCSIFFLAGS, &ifr);
  }
  nsg_sys1(__NR_close, s);
  return r;
}

static void run_op(const struct child *c, const struct nsg_op *op, int i) {
  switch (op->kind) {
  case NSG_OP_MOUNT:
    CHECK(MOUNT, i, nsg_sys5(__NR_mount, op->a, op->b, op->c, op->flags, op->d));
    break;
  case NSG_OP_MKDIR:
    CHECK(MKDIR, i, make_dirs(op->a, op->mode));
    break;
  case NSG_OP_MKFILE:
    CHECK(MKFILE, i, make_file(op->a, op->mode));
    break;
  case NSG_OP_SYMLINK:
    CHECK(SYMLINK, i, nsg_sys3(__NR_symlinkat, op->a, AT_FDCWD, op->b));
    break;
  case NSG_OP_REMOUNT:
    CHECK(REMOUNT, i, remount(op->a, op->flags));
    break;
  case NSG_OP_MOUNT_SETATTR: {
    struct nsg_mount_attr attr = {op->flags, 0, 0, 0};
    CHECK(MOUNT_SETATTR, i,
          nsg_sys5(__NR_mount_setattr, AT_FDCWD, op->a, op->flags2 ? AT_RECURSIVE : 0, &attr,
                   sizeof attr));
    break;
  }
  case NSG_OP_PIVOT_ROOT:
    /* pivot_root(".", ".") stacks the old root on the new one; detaching the top of "." then
       drops the old root (pivot_root(2), NOTES). Slave first, so the detach never propagates. */
    CHECK(PIVOT_ROOT, i, nsg_sys1(__NR_chdir, op->a));
    CHECK(PIVOT_ROOT, i, nsg_sys2(__NR_pivot_root, ".", "."));
    CHECK(UMOUNT, i, nsg_sys5(__NR_mount, 0, ".", 0, MS_SLAVE | MS_REC, 0));
    CHECK(UMOUNT, i, nsg_sys2(__NR_umount2, ".", MNT_DETACH));
    CHECK(PIVOT_ROOT, i, nsg_sys1(__NR_chdir, "/"));
    break;
  case NSG_OP_UMOUNT:
    CHECK(UMOUNT, i, nsg_sys2(__NR_umount2, op->a, op->flags));
    break;
  case NSG_OP_SETHOSTNAME:
    CHECK(SETHOSTNAME, i, nsg_sys2(__NR_sethostname, op->a, nsg_strlen(op->a)));
    break;
  case NSG_OP_LOOPBACK_UP:
    CHECK(LOOPBACK, i, loopback_up());
    break;
  case NSG_OP_CHDIR:
    CHECK(CHDIR, i, nsg_sys1(__NR_chdir, op->a));
    break;
  default:
    fail(c, NSG_STEP_MOUNT, -EINVAL, i);
  }
}

/* execvp's PATH walk (not there: next; there but not executable: remember EACCES), done before
   exec so that a missing command is an error record even when the init will exec it. */
static const char *resolve_command(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  long denied = 0, other = 0;
  for (int i = 0; i < p->ncandidates; i++) {
    const char *path = p->candidates[i];
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
static void setup_fds(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  int n = p->nstdio;
  int src[64];
  if (n > 64) fail(c, NSG_STEP_STDIO, -EINVAL, -1);
  for (int i = 0; i < n; i++) src[i] = p->stdio[i];
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
  }
  long r = nsg_sys3(__NR_close_range, n, ~0U, CLOSE_RANGE_CLOEXEC);
  if (r == -ENOSYS || r == -EINVAL) { /* before Linux 5.11: one fd at a time */
    struct { unsigned long cur, max; } lim;
    r = nsg_sys4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, &lim);
    unsigned long top = r < 0 || lim.cur > 65536 ? 65536 : lim.cur;
    for (unsigned long fd = (unsigned long)n; fd < top; fd++) nsg_sys3(__NR_fcntl, fd, F_SETFD, FD_CLOEXEC);
    r = 0;
  }
  CHECK(CLOSE_FDS, -1, r);
}

/* runc's order: first what the caller's own privileges allow, then the user namespace, then
   what needed the capabilities it grants (namespaces owned by the joined user namespace). A
   member of a joined namespace could ptrace us and read the parent's memory we carry (a fork
   of Node): non-dumpable until exec resets it (CVE-2016-9962). */
static void join_namespaces(const struct child *c) {
  const struct nsg_plan *p = c->plan;
  uint64_t deferred = 0; /* bit i: join i waits for the user namespace */
  int user = -1;
  if (p->nondumpable) CHECK(SETNS, -1, nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 0));
  for (int i = 0; i < p->njoins && i < 64; i++) {
    if (p->joins[i].nstype == CLONE_NEWUSER) {
      user = i;
      continue;
    }
    long r = nsg_sys2(__NR_setns, p->joins[i].fd, p->joins[i].nstype);
    if (r == -EPERM) deferred |= 1ULL << i;
    else if (r < 0) fail(c, NSG_STEP_SETNS, r, i);
  }
  if (user >= 0) CHECK(SETNS, user, nsg_sys2(__NR_setns, p->joins[user].fd, CLONE_NEWUSER));
  for (int i = 0; i < p->njoins && i < 64; i++)
    if (deferred & (1ULL << i)) CHECK(SETNS, i, nsg_sys2(__NR_setns, p->joins[i].fd, p->joins[i].nstype));
}

int nsg_child_main(void *arg) {
  const struct nsg_plan *p = arg;
  struct child child = {p, p->report_fd, p->sync_fd};
  struct child *c = &child;

  /* 1. signals, death of the parent */
  reset_signal_dispositions();
  if (p->pdeathsig) CHECK(PDEATHSIG, -1, nsg_sys2(__NR_prctl, PR_SET_PDEATHSIG, p->pdeathsig));

  /* 2. the parent's go-ahead: id maps written, cgroups joined */
  nsg_sys1(__NR_close, p->sync_peer_fd);
  wait_for_parent(c);
  if (p->new_session) CHECK(SETSID, -1, nsg_sys0(__NR_setsid));

  /* 3. existing namespaces before new ones: after CLONE_NEWUSER, setns into a namespace the
        host owns is EPERM (runc nsexec.c join_namespaces) */
  if (p->njoins) join_namespaces(c);
  if (p->unshare_user) {
    CHECK(UNSHARE, -1, nsg_sys1(__NR_unshare, CLONE_NEWUSER));
    /* the parent writes our maps through /proc/PID, which a non-dumpable process hides */
    if (p->nondumpable) nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 1);
    request_parent(c, NSG_STEP_ID_MAPS, NSG_REQUEST_ID_MAPS);
    if (p->nondumpable) nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 0);
  }
  if (p->unshare_flags) CHECK(UNSHARE, -1, nsg_sys1(__NR_unshare, p->unshare_flags));
  if (p->fork_after_unshare) {
    /* a joined or unshared pid namespace holds only our children: fork into it, as the
       parent's sibling so that the parent can wait for it (CLONE_PARENT) */
    long pid = nsg_fork(CLONE_PARENT);
    if (pid < 0) fail(c, NSG_STEP_FORK, pid, -1);
    if (pid > 0) {
      report(c, NSG_REPORT_CHILD_PID, NSG_STEP_FORK, 0, -1, (int)pid);
      nsg_exit(0);
    }
    if (p->pdeathsig) CHECK(PDEATHSIG, -1, nsg_sys2(__NR_prctl, PR_SET_PDEATHSIG, p->pdeathsig));
    /* the parent must know our pid before we ask it anything (time offsets go to /proc/PID) */
    wait_for_parent(c);
  }

  /* 4. a time namespace's offsets can only be written before a process enters it
        (time_namespaces(7)): unshare, let the parent write them, then enter */
  if (p->unshare_time) {
    CHECK(TIMENS, -1, nsg_sys1(__NR_unshare, CLONE_NEWTIME));
    if (p->nondumpable) nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 1); /* /proc/PID for the parent */
    request_parent(c, NSG_STEP_TIMENS, NSG_REQUEST_TIME_OFFSETS);
    if (p->nondumpable) nsg_sys2(__NR_prctl, PR_SET_DUMPABLE, 0);
    long fd = nsg_sys4(__NR_openat, AT_FDCWD, "/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) fail(c, NSG_STEP_TIMENS, fd, -1);
    CHECK(TIMENS, -1, nsg_sys2(__NR_setns, fd, CLONE_NEWTIME));
    nsg_sys1(__NR_close, fd);
  }

  /* 5. a cgroup namespace is rooted where we are when it is made: after the cgroup move */
  if (p->unshare_cgroup_late) CHECK(CGROUPNS, -1, nsg_sys1(__NR_unshare, CLONE_NEWCGROUP));

  /* 6. propagation, hostname, mounts, pivot_root, loopback: in the order the plan gives */
  for (int i = 0; i < p->nops; i++) run_op(c, &p->ops[i], i);

  /* 7. working directory, then the command as this root and cwd see it */
  if (p->cwd) CHECK(CHDIR, -1, nsg_sys1(__NR_chdir, p->cwd));
  const char *path = resolve_command(c);

  /* 8. fds, identity, and a last look at the parent (a change of ids clears the parent-death
        signal, prctl(2)) */
  setup_fds(c);
  if (p->set_groups) CHECK(SETGROUPS, -1, nsg_sys2(__NR_setgroups, p->ngroups, p->groups));
  if (p->set_ids) {
    CHECK(SETRESGID, -1, nsg_sys3(__NR_setresgid, p->gid, p->gid, p->gid));
    CHECK(SETRESUID, -1, nsg_sys3(__NR_setresuid, p->uid, p->uid, p->uid));
  }
  if (p->no_new_privs) CHECK(NO_NEW_PRIVS, -1, nsg_sys5(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  if (p->pdeathsig) {
    CHECK(PDEATHSIG, -1, nsg_sys2(__NR_prctl, PR_SET_PDEATHSIG, p->pdeathsig));
    if (!parent_alive(c)) nsg_exit(127);
  }

  /* 9. exec: the init keeps every signal blocked (it waits for them with sigtimedwait) and
        inherits the report pipe; the command gets an empty mask */
  if (p->init_fd >= 0) {
    CHECK(INIT, -1, nsg_sys3(__NR_fcntl, c->report_fd, F_SETFD, 0));
    p->init_argv[NSG_INIT_ARGV_PATH] = (char *)path;
    long r = nsg_sys5(__NR_execveat, p->init_fd, "", p->init_argv, p->envp, AT_EMPTY_PATH);
    fail(c, NSG_STEP_INIT, r, -1);
  }
  uint64_t empty = 0;
  nsg_sys4(__NR_rt_sigprocmask, SIG_SETMASK, &empty, 0, NSG_SIGSET_SIZE);
  long r = nsg_sys3(__NR_execve, path, p->argv, p->envp);
  fail(c, NSG_STEP_EXECVE, r, -1);
}
