/*
 * bench/fulljob.c — the C baseline of bench/full-job.js: the same job nsgroups does for
 *   spawn('/bin/true', [], { namespaces: user, pid, mount, uts, ipc, net, cgroup,
 *                           cgroup: <fresh, memory + pids limits>, rootfs: <overlay, tmpfs upper> })
 * with the same system calls, in the same order and the same process layout, and nothing of
 * Node's: a fresh v1 memory + pids cgroup and a cgroup2 directory; clone3 with a new user
 * namespace into the cgroup2 directory; the parent writes the id maps and the v1 cgroup.procs,
 * then lets the child go; the child unshares the other namespaces, forks the init (vfork-style,
 * it execs nsgroups' own init) and the command's process as the parent's children, reports them;
 * the command's process assembles the root (tmpfs, overlay, /proc, a minimal /dev, the masked
 * and read-only kernel paths, /tmp), pivots, brings lo up, drops every capability, joins a new
 * keyring, sets rlimits, no_new_privs, installs the seccomp filter nsgroups would, execs
 * /bin/true; the parent waits for it, kills the init, reaps everything, removes the cgroups.
 *
 * With --same-isolation, the job of the "same isolation" rows instead: no cgroup (no cgroup
 * namespace), and LOWER bound read-only as the root instead of the overlay.
 *
 * Built and run by bench/full-job.js (root only):
 *   fulljob N LOWER INIT FILTER TARGET [--same-isolation]   prints N lines: the µs of each job
 * Not a test: errors abort with a message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

struct clone_args_k {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

#define V1_MEM "/sys/fs/cgroup/memory/nsgroups"
#define V1_PIDS "/sys/fs/cgroup/pids/nsgroups"
#define V2 "/sys/fs/cgroup/unified/nsgroups"

static const char *lower, *init_path, *target;
static struct sock_fprog filter;
static int init_fd;
static int same_isolation; /* no cgroup, LOWER read-only as the root */

static void die(const char *what) {
  fprintf(stderr, "fulljob: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void put(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) die(path);
  close(fd);
}

static long clone3(struct clone_args_k *a) { return syscall(SYS_clone3, a, sizeof *a); }

/* The child side: every step nsgroups' child runs, failing loudly. */
static void must(int ok, const char *what) {
  if (!ok) {
    dprintf(2, "fulljob child: %s: %s\n", what, strerror(errno));
    _exit(127);
  }
}

static void mount_at(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  must(mount(src, dst, type, flags, data) == 0, dst);
}

static void bind_at(const char *src, const char *dst, unsigned long extra) {
  mount_at(src, dst, NULL, MS_BIND, NULL);
  mount_at(NULL, dst, NULL, MS_BIND | MS_REMOUNT | extra, NULL);
}

static const char *masked[] = {"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                               "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                               "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/devices/virtual/tpm"};
static const char *readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

static void drop_everything(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    int r = prctl(PR_CAPBSET_READ, cap);
    if (r < 0) break;
    if (r && !(keep & (1ULL << cap))) must(prctl(PR_CAPBSET_DROP, cap) == 0, "bounding set");
  }
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};
  must(syscall(SYS_capset, &h, d) == 0, "capset");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* the root: an overlay whose upper and work live on a tmpfs of their own */
static void overlay_root(void) {
  char path[4096];
  mount_at("tmpfs", target, "tmpfs", 0, "mode=0755");
  snprintf(path, sizeof path, "%s/.upper", target);
  must(mkdir(path, 0755) == 0, "upper");
  snprintf(path, sizeof path, "%s/.work", target);
  must(mkdir(path, 0755) == 0, "work");
  char data[8192];
  snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s/.upper,workdir=%s/.work", lower, target, target);
  mount_at("overlay", target, "overlay", 0, data);
  must(chdir(target) == 0, "chdir root");
}

static void command_side(void) {
  char path[4096];
  mount_at(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  if (same_isolation) {
    /* the root: LOWER itself, read-only */
    mount_at(lower, target, NULL, MS_BIND | MS_REC, NULL);
    mount_at(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
    must(chdir(target) == 0, "chdir root");
  } else
    overlay_root();

  /* mount points exist in the lower layer; nsgroups checks each inside the root */
  const char *points[] = {"proc", "dev", "tmp"};
  for (int i = 0; i < 3; i++) {
    struct stat st;
    must(fstatat(AT_FDCWD, points[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode), points[i]);
  }
  mount_at("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_at("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
  const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (int i = 0; i < 6; i++) {
    snprintf(path, sizeof path, "dev/%s", devices[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    must(fd >= 0, path);
    close(fd);
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", devices[i]);
    bind_at(host, path, MS_NOSUID | MS_NOEXEC);
  }
  must(mkdir("dev/pts", 0755) == 0, "dev/pts");
  mount_at("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
  must(symlink("pts/ptmx", "dev/ptmx") == 0, "ptmx");
  must(mkdir("dev/shm", 0755) == 0, "dev/shm");
  mount_at("tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  must(symlink("/proc/self/fd", "dev/fd") == 0 && symlink("/proc/self/fd/0", "dev/stdin") == 0 &&
           symlink("/proc/self/fd/1", "dev/stdout") == 0 && symlink("/proc/self/fd/2", "dev/stderr") == 0,
       "dev links");
  for (unsigned i = 0; i < sizeof masked / sizeof *masked; i++) {
    struct stat st;
    if (stat(masked[i] + 1, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) mount_at("tmpfs", masked[i] + 1, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    else bind_at("/dev/null", masked[i] + 1, MS_RDONLY | MS_NOSUID | MS_NOEXEC);
  }
  for (unsigned i = 0; i < sizeof readonly_paths / sizeof *readonly_paths; i++) {
    struct stat st;
    if (stat(readonly_paths[i] + 1, &st) != 0) continue;
    mount_at(readonly_paths[i] + 1, readonly_paths[i] + 1, NULL, MS_BIND | MS_REC, NULL);
    mount_at(NULL, readonly_paths[i] + 1, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
  }
  mount_at("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  must(syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root");
  mount_at(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL);
  must(umount2(".", MNT_DETACH) == 0, "umount old root");
  must(chdir("/") == 0, "chdir /");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  must(ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "lo");
  ifr.ifr_flags |= IFF_UP;
  must(ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "lo up");
  close(s);
  struct stat st;
  must(stat("/bin/true", &st) == 0 && access("/bin/true", X_OK) == 0, "/bin/true");
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  drop_everything(0);
  syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
  must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
  must(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) == 0, "seccomp");
  char *argv[] = {"/bin/true", NULL}, *envp[] = {"PATH=/bin", NULL};
  execve("/bin/true", argv, envp);
  must(0, "execve");
}

static void init_side(void) {
  drop_everything(0);
  must(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
  must(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) == 0, "seccomp");
  char *argv[] = {"nsgroups-init", NULL}, *envp[] = {NULL};
  syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
  must(0, "execveat init");
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void wait_pidfd(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  siginfo_t info;
  if (waitid(P_PIDFD, fd, &info, WEXITED) != 0) die("waitid");
  close(fd);
}

static double job(int n) {
  double t0 = now_us();
  char mem[256], pids[256], v2[256], file[300];
  snprintf(mem, sizeof mem, V1_MEM "/fulljob-%d-%d", getpid(), n);
  snprintf(pids, sizeof pids, V1_PIDS "/fulljob-%d-%d", getpid(), n);
  snprintf(v2, sizeof v2, V2 "/fulljob-%d-%d", getpid(), n);
  int cgfd = -1;
  if (!same_isolation) {
    if (mkdir(mem, 0755) || mkdir(pids, 0755) || mkdir(v2, 0755)) die("mkdir cgroup");
    snprintf(file, sizeof file, "%s/memory.limit_in_bytes", mem);
    put(file, "67108864");
    snprintf(file, sizeof file, "%s/pids.max", pids);
    put(file, "64");
    cgfd = open(v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) die("open cgroup");
  }
  int sync_pipe[2], report[2];
  if (pipe2(sync_pipe, O_CLOEXEC) || pipe2(report, O_CLOEXEC)) die("pipes");
  int pidfd = -1;
  struct clone_args_k a = {0};
  a.flags = CLONE_NEWUSER | CLONE_PIDFD | (same_isolation ? 0 : CLONE_INTO_CGROUP);
  a.pidfd = (uint64_t)(uintptr_t)&pidfd;
  a.exit_signal = SIGCHLD;
  a.cgroup = same_isolation ? 0 : (uint64_t)cgfd;
  long pid = clone3(&a);
  if (pid < 0) die("clone3");
  if (pid == 0) {
    char go;
    close(sync_pipe[1]);
    if (read(sync_pipe[0], &go, 1) != 1) _exit(127);
    must(setsid() >= 0, "setsid");
    must(unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID) == 0, "unshare");
    if (!same_isolation) must(unshare(CLONE_NEWCGROUP) == 0, "cgroupns");
    struct clone_args_k v = {0};
    v.flags = CLONE_PARENT | CLONE_VFORK;
    long init = clone3(&v);
    if (init == 0) init_side();
    struct clone_args_k c = {0};
    c.flags = CLONE_PARENT;
    long cmd = clone3(&c);
    if (cmd == 0) {
      if (read(sync_pipe[0], &go, 1) != 1) _exit(127);
      command_side();
    }
    int two[2] = {(int)init, (int)cmd};
    write(report[1], two, sizeof two);
    _exit(0);
  }
  if (cgfd >= 0) close(cgfd);
  close(sync_pipe[0]);
  close(report[1]);
  char map[64], path[64];
  snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
  put(path, "0 0 1");
  snprintf(path, sizeof path, "/proc/%ld/gid_map", pid);
  put(path, "0 0 1");
  snprintf(map, sizeof map, "%ld", pid);
  if (!same_isolation) {
    snprintf(file, sizeof file, "%s/cgroup.procs", mem);
    put(file, map);
    snprintf(file, sizeof file, "%s/cgroup.procs", pids);
    put(file, map);
  }
  if (write(sync_pipe[1], "g", 1) != 1) die("release");
  int two[2];
  if (read(report[0], two, sizeof two) != sizeof two) die("report");
  int initfd = (int)syscall(SYS_pidfd_open, two[0], 0), cmdfd = (int)syscall(SYS_pidfd_open, two[1], 0);
  siginfo_t info;
  if (initfd < 0 || cmdfd < 0 || waitid(P_PIDFD, cmdfd, &info, WEXITED | WNOHANG | WNOWAIT) != 0) die("adopt");
  if (write(sync_pipe[1], "g", 1) != 1) die("go");
  char eof;
  while (read(report[0], &eof, 1) > 0) {
  }
  close(report[0]);
  wait_pidfd(cmdfd);
  syscall(SYS_pidfd_send_signal, initfd, SIGKILL, NULL, 0);
  wait_pidfd(initfd);
  wait_pidfd(pidfd);
  close(sync_pipe[1]);
  if (!same_isolation && (rmdir(mem) || rmdir(pids) || rmdir(v2))) die("rmdir cgroup");
  return now_us() - t0;
}

int main(int argc, char **argv) {
  same_isolation = argc == 7 && strcmp(argv[6], "--same-isolation") == 0;
  if (argc != 6 + same_isolation) {
    fprintf(stderr, "usage: fulljob N LOWER INIT FILTER TARGET [--same-isolation]\n");
    return 2;
  }
  int n = atoi(argv[1]);
  lower = argv[2];
  init_path = argv[3];
  target = argv[5];
  init_fd = open(init_path, O_RDONLY | O_CLOEXEC);
  int ffd = open(argv[4], O_RDONLY | O_CLOEXEC);
  static char bytes[65536];
  ssize_t len = ffd < 0 ? -1 : read(ffd, bytes, sizeof bytes);
  if (init_fd < 0 || len <= 0) die("init or filter");
  filter.len = (unsigned short)(len / sizeof(struct sock_filter));
  filter.filter = (struct sock_filter *)bytes;
  for (int i = 0; i < n; i++) printf("%.0f\n", job(i));
  return 0;
}
