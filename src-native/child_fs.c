/*
 * The child's filesystem steps. A rootfs is somebody's directory tree, possibly hostile: its
 * symlinks must never make a mount, a mkdir or a new file land outside it (the class of runc's
 * CVE-2021-30465 and CVE-2019-19921). So every path inside the root is resolved with the root
 * as "/" (openat2(2) RESOLVE_IN_ROOT), and the mount goes onto the file descriptor that
 * resolution returned, never onto a path the kernel would resolve again: move_mount(2) for
 * binds, /proc/self/fd/N (a magic link to exactly that directory) for new filesystems.
 * Raw system calls only (child.c's rules: this may run in a CLONE_VM child).
 */
#include "child_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "rawsys.h"
#include "report.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* openat2(2), open_tree(2), move_mount(2), mount_setattr(2): uapi values, spelled out for old
   headers */
struct nsg_open_how {
  uint64_t flags, mode, resolve;
};
#define NSG_RESOLVE_NO_MAGICLINKS 0x02
#define NSG_RESOLVE_NO_SYMLINKS 0x04
#define NSG_RESOLVE_IN_ROOT 0x10
#define NSG_OPEN_TREE_CLONE 1
#define NSG_MOVE_MOUNT_F_EMPTY_PATH 0x04
#define NSG_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define NSG_MOUNT_ATTR_RDONLY 0x1
#define NSG_MOUNT_ATTR_NOSUID 0x2
#define NSG_MOUNT_ATTR_NODEV 0x4
#define NSG_MOUNT_ATTR_NOEXEC 0x8

struct nsg_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define PATH_BUF 4096

static struct nsg_op_result result(int step, long r) {
  struct nsg_op_result x = {step, r < 0 ? r : 0, -1};
  return x;
}

static void close_fd(long fd) {
  if (fd >= 0) nsg_sys1(__NR_close, fd);
}

/* "/proc/self/fd/N": how mount(2) is pointed at a directory we hold open (runc's WithProcfd). */
static void fd_path(char buf[32], long fd) {
  static const char prefix[] = "/proc/self/fd/";
  char digits[12];
  int n = 0, i = 0;
  do digits[n++] = (char)('0' + fd % 10);
  while ((fd /= 10) > 0 && n < 11);
  for (; prefix[i]; i++) buf[i] = prefix[i];
  while (n > 0) buf[i++] = digits[--n];
  buf[i] = 0;
}

/* Before Linux 5.6 there is no openat2: walk one component at a time from the root and refuse
   any symlink (ELOOP) — safe, but stricter than RESOLVE_IN_ROOT. lib/ sends normalized paths
   (no "." or ".." components). */
static long walk_without_symlinks(int root_fd, const char *path, long oflags) {
  long cur = nsg_sys3(__NR_fcntl, root_fd, F_DUPFD_CLOEXEC, 0);
  char name[256];
  for (const char *s = path; cur >= 0;) {
    while (*s == '/') s++;
    if (!*s) break;
    unsigned long n = 0;
    for (; s[n] && s[n] != '/'; n++) {
      if (n >= sizeof name - 1) {
        close_fd(cur);
        return -ENAMETOOLONG;
      }
      name[n] = s[n];
    }
    name[n] = 0;
    s += n;
    long next = nsg_sys4(__NR_openat, cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    close_fd(cur);
    if (next < 0) return next;
    struct stat st;
    long r = nsg_sys4(__NR_newfstatat, next, "", &st, AT_EMPTY_PATH);
    if (r == 0 && S_ISLNK(st.st_mode)) r = -ELOOP;
    if (r == 0 && !S_ISDIR(st.st_mode) && (*s || (oflags & O_DIRECTORY))) r = -ENOTDIR;
    if (r < 0) {
      close_fd(next);
      return r;
    }
    cur = next;
  }
  return cur;
}

/* `path` (absolute inside the root) with the root as "/": a symlink is followed inside it
   (absolute ones from the root, ".." stops there), never out of it, and magic links
   (/proc/PID/root and the like) are refused (openat2(2)). no_symlinks refuses every symlink. */
static long open_in_root(int root_fd, const char *path, long oflags, int no_symlinks) {
  struct nsg_open_how how = {
      (uint64_t)(oflags | O_CLOEXEC), 0,
      NSG_RESOLVE_IN_ROOT | NSG_RESOLVE_NO_MAGICLINKS | (no_symlinks ? NSG_RESOLVE_NO_SYMLINKS : 0)};
  long fd = nsg_sys4(__NR_openat2, root_fd, path, &how, sizeof how);
  return fd == -ENOSYS ? walk_without_symlinks(root_fd, path, oflags) : fd;
}

/* The op's target, opened as an O_PATH fd: inside the root, or (no rootfs) as the caller sees it. */
static long open_target(const struct nsg_op *op, int root_fd, long oflags) {
  if (!op->target) return -EINVAL;
  if (!op->in_root) return nsg_sys4(__NR_openat, AT_FDCWD, op->target, oflags | O_PATH | O_CLOEXEC, 0);
  if (root_fd < 0) return -EBADF; /* a plan with in_root ops before NSG_OP_ROOT */
  return open_in_root(root_fd, op->target, oflags | O_PATH, op->no_symlinks);
}

/* "/a/b/c" -> parent "/a/b" in buf, returns "c"; "/c" -> "/", "c". NULL if it does not fit. */
static const char *split_parent(const char *path, char *buf) {
  unsigned long n = nsg_strlen(path), slash = 0;
  if (n == 0 || n >= PATH_BUF) return 0;
  for (unsigned long i = 0; i < n; i++)
    if (path[i] == '/') slash = i;
  for (unsigned long i = 0; i < slash; i++) buf[i] = path[i];
  buf[slash ? slash : 1] = 0;
  if (!slash) buf[0] = '/';
  return path[slash + 1] ? path + slash + 1 : 0;
}

/* One directory `path` inside the root, made in its parent (which exists) if it is missing. */
static long make_one_dir(int root_fd, const char *path, uint32_t mode, int no_symlinks) {
  long d = open_in_root(root_fd, path, O_PATH | O_DIRECTORY, no_symlinks);
  if (d != -ENOENT) {
    close_fd(d);
    return d < 0 ? d : 0;
  }
  char parent[PATH_BUF];
  const char *name = split_parent(path, parent);
  if (!name) return -ENAMETOOLONG;
  long p = open_in_root(root_fd, parent, O_PATH | O_DIRECTORY, no_symlinks);
  if (p < 0) return p;
  long r = nsg_sys3(__NR_mkdirat, p, name, mode);
  close_fd(p);
  if (r != -EEXIST) return r;
  /* there is something that did not resolve to a directory: a symlink leading nowhere inside
     the root (ENOENT), or one made meanwhile */
  d = open_in_root(root_fd, path, O_PATH | O_DIRECTORY, no_symlinks);
  close_fd(d);
  return d < 0 ? d : 0;
}

/* mkdir -p inside the root. Mount points mostly exist: try the whole path first. */
static long make_dirs(int root_fd, const char *path, uint32_t mode, int no_symlinks) {
  long d = open_in_root(root_fd, path, O_PATH | O_DIRECTORY, no_symlinks);
  if (d != -ENOENT) {
    close_fd(d);
    return d < 0 ? d : 0;
  }
  char buf[PATH_BUF];
  unsigned long n = nsg_strlen(path);
  if (n >= sizeof buf) return -ENAMETOOLONG;
  for (unsigned long i = 0; i <= n; i++) buf[i] = path[i];
  for (unsigned long i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char saved = buf[i];
    buf[i] = 0;
    long r = make_one_dir(root_fd, buf, mode, no_symlinks);
    buf[i] = saved;
    if (r < 0) return r;
  }
  return 0;
}

/* An empty file to bind a file onto, in its (existing) directory. Whatever is there already is
   left for the bind, which resolves it inside the root. */
static long make_file(int root_fd, const char *path, uint32_t mode, int no_symlinks) {
  char parent[PATH_BUF];
  const char *name = split_parent(path, parent);
  if (!name) return -EINVAL;
  long p = open_in_root(root_fd, parent, O_PATH | O_DIRECTORY, no_symlinks);
  if (p < 0) return p;
  long fd = nsg_sys4(__NR_openat, p, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
  close_fd(p);
  if (fd == -EEXIST) return 0;
  close_fd(fd);
  return fd < 0 ? fd : 0;
}

static long make_symlink(int root_fd, const char *content, const char *path, int no_symlinks) {
  char parent[PATH_BUF];
  const char *name = split_parent(path, parent);
  if (!name || !content) return -EINVAL;
  long p = open_in_root(root_fd, parent, O_PATH | O_DIRECTORY, no_symlinks);
  if (p < 0) return p;
  long r = nsg_sys3(__NR_symlinkat, content, p, name);
  close_fd(p);
  return r;
}

static unsigned long attr_to_ms_flags(uint64_t attr) {
  return (attr & NSG_MOUNT_ATTR_RDONLY ? MS_RDONLY : 0) | (attr & NSG_MOUNT_ATTR_NOSUID ? MS_NOSUID : 0) |
         (attr & NSG_MOUNT_ATTR_NODEV ? MS_NODEV : 0) | (attr & NSG_MOUNT_ATTR_NOEXEC ? MS_NOEXEC : 0);
}

/* Bind-remount of the mount whose root fd is: a remount may not clear the flags the kernel
   locked when the mount crossed into a less privileged mount namespace
   (mount_namespaces(7)), so those that are set stay. */
static long remount_fd(long fd, unsigned long flags) {
  struct statfs st;
  long r = nsg_sys2(__NR_fstatfs, fd, &st);
  if (r < 0) return r;
  unsigned long keep = (unsigned long)st.f_flags &
                       (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  char path[32];
  fd_path(path, fd);
  return nsg_sys5(__NR_mount, 0, path, 0, MS_BIND | MS_REMOUNT | keep | flags, 0);
}

/* A clone of the source tree (open_tree(2)), made nosuid/nodev/read-only while it is still
   detached, so it is never visible without them, then attached onto the target fd. -ENOSYS
   before Linux 5.12 (mount_setattr). */
static struct nsg_op_result bind_detached(const struct nsg_op *op, long target) {
  unsigned int rec = op->recursive ? AT_RECURSIVE : 0;
  long tree = nsg_sys3(__NR_open_tree, AT_FDCWD, op->source, NSG_OPEN_TREE_CLONE | O_CLOEXEC | rec);
  if (tree < 0) return result(NSG_STEP_OPEN_TREE, tree);
  long r = 0;
  if (op->attr) {
    struct nsg_mount_attr attr = {op->attr, 0, 0, 0};
    r = nsg_sys5(__NR_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr);
    if (r < 0) {
      close_fd(tree);
      return result(NSG_STEP_MOUNT_SETATTR, r);
    }
  }
  r = nsg_sys6(__NR_move_mount, tree, (long)"", target, (long)"",
               NSG_MOVE_MOUNT_F_EMPTY_PATH | NSG_MOVE_MOUNT_T_EMPTY_PATH, 0);
  close_fd(tree);
  return result(NSG_STEP_MOVE_MOUNT, r);
}

/* Older kernels: mount(MS_BIND) onto the fd, then remount the new mount (resolved again: the
   fd still names the directory under it) with the flags; only its top is made read-only. */
static struct nsg_op_result bind_remount(const struct nsg_op *op, int root_fd, long target) {
  char path[32];
  fd_path(path, target);
  long r = nsg_sys5(__NR_mount, op->source, path, 0, MS_BIND | (op->recursive ? MS_REC : 0), 0);
  if (r < 0 || !op->attr) return result(NSG_STEP_MOUNT, r);
  long top = open_target(op, root_fd, 0);
  if (top < 0) return result(NSG_STEP_RESOLVE, top);
  r = remount_fd(top, attr_to_ms_flags(op->attr));
  close_fd(top);
  return result(NSG_STEP_REMOUNT, r);
}

static struct nsg_op_result bind_mount(const struct nsg_op *op, int root_fd) {
  if (!op->source) return result(NSG_STEP_PLAN, -EINVAL);
  long target = open_target(op, root_fd, 0);
  if (target < 0) return result(NSG_STEP_RESOLVE, target);
  struct nsg_op_result r = bind_detached(op, target);
  if (r.err == -ENOSYS) r = bind_remount(op, root_fd, target);
  close_fd(target);
  return r;
}

/* A new filesystem (tmpfs, proc, devpts, sysfs, overlay, or a propagation change with no
   fstype) on the directory the target resolved to. */
static struct nsg_op_result new_mount(const struct nsg_op *op, int root_fd) {
  long target = open_target(op, root_fd, O_DIRECTORY);
  if (target < 0) return result(NSG_STEP_RESOLVE, target);
  char path[32];
  fd_path(path, target);
  long r = nsg_sys5(__NR_mount, op->source, path, op->fstype, op->flags, op->data);
  close_fd(target);
  return result(NSG_STEP_MOUNT, r);
}

static struct nsg_op_result set_attr(const struct nsg_op *op, int root_fd) {
  long target = open_target(op, root_fd, O_DIRECTORY);
  if (target < 0) return result(NSG_STEP_RESOLVE, target);
  struct nsg_mount_attr attr = {op->attr, 0, 0, 0};
  long r =
      nsg_sys5(__NR_mount_setattr, target, "", AT_EMPTY_PATH | (op->recursive ? AT_RECURSIVE : 0), &attr, sizeof attr);
  int step = NSG_STEP_MOUNT_SETATTR;
  if (r == -ENOSYS) { /* before Linux 5.12: the top mount only */
    r = remount_fd(target, attr_to_ms_flags(op->attr));
    step = NSG_STEP_REMOUNT;
  }
  close_fd(target);
  return result(step, r);
}

/* pivot_root(".", ".") stacks the old root on the new one; detaching the top of "." then drops
   it (pivot_root(2), NOTES). Slave first, so the detach never propagates to the host. */
static struct nsg_op_result pivot_into_root(int *root_fd) {
  long r;
  if (*root_fd < 0) return result(NSG_STEP_PLAN, -EBADF);
  if ((r = nsg_sys1(__NR_fchdir, *root_fd)) < 0) return result(NSG_STEP_CHDIR, r);
  if ((r = nsg_sys2(__NR_pivot_root, ".", ".")) < 0) return result(NSG_STEP_PIVOT_ROOT, r);
  if ((r = nsg_sys5(__NR_mount, 0, ".", 0, MS_SLAVE | MS_REC, 0)) < 0) return result(NSG_STEP_MOUNT, r);
  if ((r = nsg_sys2(__NR_umount2, ".", MNT_DETACH)) < 0) return result(NSG_STEP_UMOUNT, r);
  if ((r = nsg_sys1(__NR_chdir, "/")) < 0) return result(NSG_STEP_CHDIR, r);
  close_fd(*root_fd);
  *root_fd = -1;
  return result(0, 0);
}

/* runc's maskedPaths: a directory gets an empty read-only tmpfs, anything else /dev/null
   bound read-only; what this kernel does not have is nothing to hide. */
static struct nsg_op_result mask_one(const struct nsg_op *op, int root_fd) {
  long target = open_target(op, root_fd, 0);
  if (target == -ENOENT) return result(0, 0);
  if (target < 0) return result(NSG_STEP_RESOLVE, target);
  struct stat st;
  long r = nsg_sys4(__NR_newfstatat, target, "", &st, AT_EMPTY_PATH);
  struct nsg_op_result out = result(NSG_STEP_RESOLVE, r);
  if (r == 0 && S_ISDIR(st.st_mode)) {
    char path[32];
    fd_path(path, target);
    out = result(NSG_STEP_MOUNT,
                 nsg_sys5(__NR_mount, "tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 0));
  } else if (r == 0) {
    struct nsg_op op_null = *op;
    op_null.attr = NSG_MOUNT_ATTR_RDONLY | NSG_MOUNT_ATTR_NOSUID | NSG_MOUNT_ATTR_NOEXEC;
    op_null.recursive = 0;
    out = bind_detached(&op_null, target);
    if (out.err == -ENOSYS) out = bind_remount(&op_null, root_fd, target);
  }
  close_fd(target);
  return out;
}

/* runc's readonlyPaths: the mount at target (with what is below it) bound onto itself, read-only. */
static struct nsg_op_result read_only_one(const struct nsg_op *op, int root_fd) {
  long target = open_target(op, root_fd, 0);
  if (target == -ENOENT) return result(0, 0);
  if (target < 0) return result(NSG_STEP_RESOLVE, target);
  struct nsg_op_result out;
  long tree = nsg_sys3(__NR_open_tree, target, "", NSG_OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
  if (tree >= 0) {
    struct nsg_mount_attr attr = {NSG_MOUNT_ATTR_RDONLY | NSG_MOUNT_ATTR_NOSUID | NSG_MOUNT_ATTR_NODEV, 0, 0, 0};
    long r = nsg_sys5(__NR_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr);
    out = result(NSG_STEP_MOUNT_SETATTR, r);
    if (r == 0)
      out = result(NSG_STEP_MOVE_MOUNT, nsg_sys6(__NR_move_mount, tree, (long)"", target, (long)"",
                                                 NSG_MOVE_MOUNT_F_EMPTY_PATH | NSG_MOVE_MOUNT_T_EMPTY_PATH, 0));
    close_fd(tree);
  } else {
    out = result(NSG_STEP_OPEN_TREE, tree);
  }
  if (out.err == -ENOSYS) { /* before Linux 5.12: bind it onto itself, remount the top */
    char path[32];
    fd_path(path, target);
    long r = nsg_sys5(__NR_mount, path, path, 0, MS_BIND | MS_REC, 0);
    out = result(NSG_STEP_MOUNT, r);
    if (r == 0) {
      long top = open_target(op, root_fd, 0);
      out = top < 0 ? result(NSG_STEP_RESOLVE, top)
                    : result(NSG_STEP_REMOUNT, remount_fd(top, MS_RDONLY | MS_NOSUID | MS_NODEV));
      close_fd(top);
    }
  }
  close_fd(target);
  return out;
}

/* Runs `one` for each newline-separated path of op->data as the op's target; the failing
   entry's number goes into the result. */
static struct nsg_op_result each_path(const struct nsg_op *op, int root_fd,
                                      struct nsg_op_result (*one)(const struct nsg_op *, int)) {
  if (!op->data) return result(NSG_STEP_PLAN, -EINVAL);
  char path[PATH_BUF];
  const char *s = op->data;
  for (int item = 0; *s; item++) {
    unsigned long n = 0;
    while (s[n] && s[n] != '\n') n++;
    if (n >= sizeof path) return result(NSG_STEP_PLAN, -ENAMETOOLONG);
    for (unsigned long i = 0; i < n; i++) path[i] = s[i];
    path[n] = 0;
    s += n + (s[n] == '\n');
    struct nsg_op sub = *op;
    sub.target = path;
    struct nsg_op_result r = one(&sub, root_fd);
    if (r.err < 0) {
      r.item = item;
      return r;
    }
  }
  return result(0, 0);
}

/* A minimal /dev (bubblewrap's set): a tmpfs; the host's devices of op->data bound in (not
   nodev: they are devices); a devpts instance with ptmx; a tmpfs on shm; the fd links. Each
   entry is a path under op->target, resolved like it; failures name the entry (item). */
static struct nsg_op_result make_dev(const struct nsg_op *op, int root_fd) {
  if (!op->data || !op->target) return result(NSG_STEP_PLAN, -EINVAL);
  char path[PATH_BUF], host[PATH_BUF];
  unsigned long base = nsg_strlen(op->target);
  if (base + 64 >= sizeof path) return result(NSG_STEP_PLAN, -ENAMETOOLONG);
  for (unsigned long i = 0; i <= base; i++) path[i] = op->target[i];
  struct nsg_op sub = *op;
  sub.target = path;
  struct nsg_op_result r;
#define DEV_STEP(item_, call) \
  do {                        \
    r = (call);               \
    if (r.err < 0) {          \
      r.item = (item_);       \
      return r;               \
    }                         \
  } while (0)
#define UNDER(name)                                         \
  do {                                                      \
    const char *n_ = (name);                                \
    unsigned long k_ = base;                                \
    path[k_++] = '/';                                       \
    while (*n_ && k_ < sizeof path - 1) path[k_++] = *n_++; \
    path[k_] = 0;                                           \
  } while (0)
  sub.source = "tmpfs";
  sub.fstype = "tmpfs";
  sub.data = "mode=0755,size=64k";
  sub.flags = MS_NOSUID | MS_NOEXEC;
  DEV_STEP(0, new_mount(&sub, root_fd));
  int item = 1;
  const char *s = op->data;
  while (*s) {
    unsigned long n = 0;
    while (s[n] && s[n] != '\n') n++;
    if (n == 0 || n >= 32) return result(NSG_STEP_PLAN, -EINVAL);
    char name[32];
    for (unsigned long i = 0; i < n; i++) name[i] = s[i];
    name[n] = 0;
    s += n + (s[n] == '\n');
    UNDER(name);
    DEV_STEP(item, result(NSG_STEP_MKFILE, make_file(root_fd, path, 0666, op->no_symlinks)));
    host[0] = 0;
    const char prefix[] = "/dev/";
    unsigned long k = 0;
    for (; prefix[k]; k++) host[k] = prefix[k];
    for (unsigned long i = 0; i <= n; i++) host[k + i] = name[i];
    struct nsg_op bindop = sub;
    bindop.source = host;
    bindop.attr = NSG_MOUNT_ATTR_NOSUID | NSG_MOUNT_ATTR_NOEXEC;
    bindop.recursive = 0;
    DEV_STEP(item, bind_mount(&bindop, root_fd));
    item++;
  }
  UNDER("pts");
  DEV_STEP(item, result(NSG_STEP_MKDIR, make_dirs(root_fd, path, 0755, op->no_symlinks)));
  sub.source = "devpts";
  sub.fstype = "devpts";
  sub.data = "newinstance,ptmxmode=0666,mode=620";
  sub.flags = MS_NOSUID | MS_NOEXEC;
  DEV_STEP(item, new_mount(&sub, root_fd));
  UNDER("ptmx");
  DEV_STEP(item + 1, result(NSG_STEP_SYMLINK, make_symlink(root_fd, "pts/ptmx", path, op->no_symlinks)));
  UNDER("shm");
  DEV_STEP(item + 2, result(NSG_STEP_MKDIR, make_dirs(root_fd, path, 0755, op->no_symlinks)));
  sub.source = "tmpfs";
  sub.fstype = "tmpfs";
  sub.data = "mode=1777";
  sub.flags = MS_NOSUID | MS_NODEV;
  DEV_STEP(item + 2, new_mount(&sub, root_fd));
  static const char *const links[4][2] = {{"fd", "/proc/self/fd"},
                                          {"stdin", "/proc/self/fd/0"},
                                          {"stdout", "/proc/self/fd/1"},
                                          {"stderr", "/proc/self/fd/2"}};
  for (int i = 0; i < 4; i++) {
    UNDER(links[i][0]);
    DEV_STEP(item + 3 + i, result(NSG_STEP_SYMLINK, make_symlink(root_fd, links[i][1], path, op->no_symlinks)));
  }
#undef UNDER
#undef DEV_STEP
  return result(0, 0);
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
  close_fd(s);
  return r;
}

struct nsg_op_result nsg_run_op(const struct nsg_op *op, int *root_fd) {
  /* nothing is ever created in the caller's own filesystem, only inside a rootfs */
  int creates = op->kind == NSG_OP_MKDIR || op->kind == NSG_OP_MKFILE || op->kind == NSG_OP_SYMLINK;
  if (creates && (!op->in_root || !op->target || *root_fd < 0)) return result(NSG_STEP_PLAN, -EINVAL);
  switch (op->kind) {
  case NSG_OP_MOUNT:
    return new_mount(op, *root_fd);
  case NSG_OP_BIND:
    return bind_mount(op, *root_fd);
  case NSG_OP_MKDIR:
    return result(NSG_STEP_MKDIR, make_dirs(*root_fd, op->target, op->mode, op->no_symlinks));
  case NSG_OP_MKFILE:
    return result(NSG_STEP_MKFILE, make_file(*root_fd, op->target, op->mode, op->no_symlinks));
  case NSG_OP_SYMLINK:
    return result(NSG_STEP_SYMLINK, make_symlink(*root_fd, op->source, op->target, op->no_symlinks));
  case NSG_OP_SETATTR:
    return set_attr(op, *root_fd);
  case NSG_OP_ROOT: {
    /* again after a mount on the root (an overlay over its scratch tmpfs): the new top */
    if (!op->target || op->in_root) return result(NSG_STEP_PLAN, -EINVAL);
    long fd = nsg_sys4(__NR_openat, AT_FDCWD, op->target, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd >= 0) {
      close_fd(*root_fd);
      *root_fd = (int)fd;
    }
    return result(NSG_STEP_RESOLVE, fd);
  }
  case NSG_OP_PIVOT_ROOT:
    return pivot_into_root(root_fd);
  case NSG_OP_SETHOSTNAME:
    if (!op->data) return result(NSG_STEP_PLAN, -EINVAL);
    return result(NSG_STEP_SETHOSTNAME, nsg_sys2(__NR_sethostname, op->data, nsg_strlen(op->data)));
  case NSG_OP_LOOPBACK_UP:
    return result(NSG_STEP_LOOPBACK, loopback_up());
  case NSG_OP_MASK:
    if (!op->source) return result(NSG_STEP_PLAN, -EINVAL);
    return each_path(op, *root_fd, mask_one);
  case NSG_OP_READONLY:
    return each_path(op, *root_fd, read_only_one);
  case NSG_OP_DEV:
    if (!op->in_root) return result(NSG_STEP_PLAN, -EINVAL); /* only inside a rootfs */
    return make_dev(op, *root_fd);
  default:
    return result(NSG_STEP_PLAN, -EINVAL);
  }
}
