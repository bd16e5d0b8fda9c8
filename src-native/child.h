/*
 * The plan a sandboxed child runs between clone and execve, defined once.
 *
 * NSG_PLAN_FIELDS, NSG_OP_FIELDS, NSG_JOIN_FIELDS and NSG_STDIO_FIELDS below are the whole
 * schema: they generate the C structs the child reads (here), the reader in spawn.cc that takes
 * them from the TypeScript plan (every key required, no other key allowed, each of its type:
 * a mistake is a TypeError naming the key, never a default), and the key lists the addon
 * exports (`planSchema`) that test/plan.schema.test.ts holds types/native.d.ts and
 * lib/spawn/plan.ts to. What to do and in which order is decided in TypeScript
 * (lib/spawn/plan.ts); this is the mechanism.
 *
 * Adding a spawn option that the child must act on:
 *   1. a field here (a scalar in NSG_PLAN_FIELDS, or a new op kind in enum nsg_op_kind when it
 *      is one more filesystem step among the ordered ops), with a comment saying what it does;
 *   2. the same key in types/native.d.ts (NativePlan or NativeOp) and where lib/spawn/plan.ts
 *      builds the plan;
 *   3. the step in child.c, at its place in the kernel's order (DESIGN.md "The spawn path"),
 *      reporting failure with a step of report.h (add one there if none names the syscall);
 *   4. a test that reads the effect from the kernel (/proc/PID/status, mountinfo, ...).
 * The schema test fails until 1 and 2 agree; spawn() throws until the plan carries the key.
 */
#ifndef NSGROUPS_CHILD_H
#define NSGROUPS_CHILD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Field types: BOOL (int32_t 0/1, a JS boolean), I32 (int32_t), U32 (uint32_t), U64 (uint64_t,
 * a JS integer below 2^53), STR (const char *, a JS string or null -> NULL), STRS (a JS string
 * array -> NULL-terminated char *const * plus NAME_count), U32S (a JS number array -> const
 * uint32_t * plus NAME_count), BYTES (a Buffer -> const uint8_t * plus NAME_count bytes), and
 * the struct arrays OPS, JOINS, STDIO, RLIMITS.
 */

/* One filesystem or host-identity step, run in order after the namespaces exist. */
enum nsg_op_kind {
  NSG_OP_MOUNT = 1, /* mount(source, target, fstype, flags, data): a new filesystem */
  NSG_OP_BIND = 2, /* bind `source` (a host path) onto target; `recursive`; `attr` (MOUNT_ATTR_*)
                            applied to the new mount before it is attached */
  NSG_OP_MKDIR = 3, /* mkdir -p target (mode); existing directories are fine */
  NSG_OP_MKFILE = 4, /* an empty file at target (mode) to bind a file onto; its directory exists */
  NSG_OP_SYMLINK = 5, /* a symlink at target whose content is `source` */
  NSG_OP_SETATTR = 6, /* mount_setattr(target, attr, AT_RECURSIVE if recursive): the mount at target */
  NSG_OP_ROOT = 7, /* target (a host path, the root just mounted) becomes the root that
                            every later op with in_root resolves its target under (again after
                            another mount on it) */
  NSG_OP_PIVOT_ROOT = 8, /* chdir(target); pivot_root(".", "."); detach the old root; chdir("/") */
  NSG_OP_SETHOSTNAME = 9, /* sethostname(data) */
  NSG_OP_LOOPBACK_UP = 10, /* bring "lo" up in the current network namespace */
  NSG_OP_EARLY_IDS = 11, /* setresgid/setresuid to the plan's early_gid/early_uid, here */
  NSG_OP_MASK = 12, /* hide each path of data (newline-separated): an empty read-only tmpfs
                              over a directory, source (/dev/null) bound over a file; a path that
                              does not exist is fine */
  NSG_OP_READONLY = 13, /* each path of data bound onto itself read-only, recursively; missing
                              is fine */
  NSG_OP_DEV = 14 /* a minimal /dev at target: a tmpfs, each device of data (host's
                              /dev/NAME, newline-separated) bound in, devpts, ptmx, shm, fd links */
};

/*
 * Paths of a list (data of NSG_OP_MASK, NSG_OP_READONLY, NSG_OP_DEV) are resolved like target.
 * in_root: target is a path inside the root (NSG_OP_ROOT), resolved there with
 * openat2(RESOLVE_IN_ROOT): a symlink in the rootfs never leads out of it (runc
 * CVE-2021-30465). no_symlinks: refuse any symlink on the way instead (the library's own mount
 * points: /proc, /dev, /tmp, /sys). Without in_root, target is a path of the caller's view.
 */
#define NSG_OP_FIELDS(X)          \
  X(I32, kind, "kind")            \
  X(STR, source, "source")        \
  X(STR, target, "target")        \
  X(STR, fstype, "fstype")        \
  X(STR, data, "data")            \
  X(U64, flags, "flags")          \
  X(U64, attr, "attr")            \
  X(U32, mode, "mode")            \
  X(BOOL, recursive, "recursive") \
  X(BOOL, in_root, "inRoot")      \
  X(BOOL, no_symlinks, "noSymlinks")

#define NSG_JOIN_FIELDS(X)                                                              \
  X(I32, fd, "fd") /* an open namespace file (nsfs) in the parent's table, inherited */ \
  X(I32, nstype, "nstype") /* CLONE_NEW* for setns */

/* What fd i of the command will be: a new pipe (the parent keeps the other end), one of the
   parent's fds, or /dev/null. */
#define NSG_STDIO_FIELDS(X) \
  X(STR, kind, "kind")      \
  X(I32, fd, "fd")          \
  X(BOOL, child_reads, "childReads")

/* A resource limit (setrlimit(2)); a value of 2^53-1 or more is RLIM_INFINITY. */
#define NSG_RLIMIT_FIELDS(X)   \
  X(I32, resource, "resource") \
  X(U64, soft, "soft")         \
  X(U64, hard, "hard")

#define NSG_PLAN_FIELDS(X)                                                                         \
  /* the clone, done by the parent */                                                              \
  X(U64, clone_flags, "cloneFlags") /* CLONE_NEW* made at birth */                                 \
  X(I32, cgroup_fd, "cgroupFd") /* a cgroup2 directory for CLONE_INTO_CGROUP, or -1 */             \
  X(U32S, procs_fds, "procsFds") /* cgroup.procs files the parent opened: the child     \
                                              writes itself ("0") into each, first of all */          \
  X(BOOL, use_vm, "useVm") /* CLONE_VM: no page-table copy (never with id changes) */              \
  X(STDIO, stdio, "stdio")                                                                         \
  /* namespaces not made at clone */                                                               \
  X(JOINS, joins, "joins") /* setns in this order (those needing the userns last) */               \
  X(BOOL, nondumpable, "nondumpable") /* PR_SET_DUMPABLE 0 while joining (fork-style only) */      \
  X(BOOL, unshare_user, "unshareUser") /* CLONE_NEWUSER after the joins; the parent writes maps */ \
  X(U64, unshare_flags, "unshareFlags") /* other CLONE_NEW* after the joins and the user ns */     \
  X(BOOL, fork_into_pidns, "forkIntoPidns") /* the command is forked into the unshared or joined \
                                               pid namespace, as the parent's child (CLONE_PARENT) */ \
  X(BOOL, init, "init") /* with fork_into_pidns: pid 1 is the init (a reaper) */                   \
  X(BOOL, unshare_time, "unshareTime") /* CLONE_NEWTIME, offsets from the parent, enter it */      \
  X(BOOL, unshare_cgroup_late, "unshareCgroupLate") /* CLONE_NEWCGROUP after the cgroup move */    \
  /* identity while setting up: the caller's own id may be unmapped in the new user namespace */   \
  X(BOOL, early_ids, "earlyIds") /* taken at the NSG_OP_EARLY_IDS op */                            \
  X(U32, early_uid, "earlyUid")                                                                    \
  X(U32, early_gid, "earlyGid")                                                                    \
  /* filesystem */                                                                                 \
  X(OPS, ops, "ops")                                                                               \
  /* the command */                                                                                \
  X(STR, cwd, "cwd") /* NULL: inherit */                                                           \
  X(STRS, candidates, "candidates") /* the command's possible paths, PATH order */                 \
  X(STRS, argv, "argv")                                                                            \
  X(BOOL, inherit_env, "inheritEnv") /* envp: a copy of the caller's environ (spawn.cc) */         \
  X(STRS, envp, "envp")                                                                            \
  X(BOOL, set_groups, "setGroups") /* setgroups(groups) (needs setgroups "allow") */               \
  X(U32S, groups, "groups")                                                                        \
  X(BOOL, set_ids, "setIds") /* setresgid/setresuid to gid/uid */                                  \
  X(U32, uid, "uid")                                                                               \
  X(U32, gid, "gid")                                                                               \
  X(I32, pdeathsig, "pdeathsig") /* signal when the spawning thread dies, 0 = none */              \
  X(BOOL, new_session, "newSession")                                                               \
  /* least privilege, last before execve */                                                        \
  X(BOOL, new_keyring, "newKeyring") /* join a new anonymous session keyring */                    \
  X(RLIMITS, rlimits, "rlimits")                                                                   \
  X(BOOL, drop_caps, "dropCapabilities") /* every set (and the init's) to keep_caps */             \
  X(U64, keep_caps, "keepCapabilities") /* bit N: capability N stays */                            \
  X(BOOL, no_new_privs, "noNewPrivs")                                                              \
  X(BYTES, seccomp_filter, "seccompFilter") /* struct sock_filter[]; empty: no filter */           \
  X(U32, seccomp_flags, "seccompFlags") /* SECCOMP_SET_MODE_FILTER flags */                        \
  /* a warm pool's sandbox: made now, its command given later (see NSG_HANDOVER_FIELDS) */         \
  X(BOOL, park, "park") /* after the last privilege step, wait for the     \
                                              hand-over; stdio, cwd, candidates, argv, envp    \
                                              come with it and are empty here */                       \
  X(BOOL, seccomp_at_handover, "seccompAtHandover") /* with park: install the filter after the \
                                              hand-over (it denies a call the hand-over makes) */

/*
 * The hand-over to a parked sandbox (ChildHandle.handOver): the command, as the plan would have
 * given it. The parent writes it into memory it shares with the parked process (struct
 * nsg_handover) and sends one message on the sync socket with the stdio fds (SCM_RIGHTS).
 */
#define NSG_HANDOVER_FIELDS(X)       \
  X(STR, cwd, "cwd")                 \
  X(STRS, candidates, "candidates")  \
  X(STRS, argv, "argv")              \
  X(BOOL, inherit_env, "inheritEnv") \
  X(STRS, envp, "envp")              \
  X(STDIO, stdio, "stdio")

#define NSG_DECLARE_BOOL(n) int32_t n;
#define NSG_DECLARE_I32(n) int32_t n;
#define NSG_DECLARE_U32(n) uint32_t n;
#define NSG_DECLARE_U64(n) uint64_t n;
#define NSG_DECLARE_STR(n) const char *n;
#define NSG_DECLARE_STRS(n) \
  char *const *n;           \
  int32_t n##_count;
#define NSG_DECLARE_U32S(n) \
  const uint32_t *n;        \
  int32_t n##_count;
#define NSG_DECLARE_OPS(n) \
  const struct nsg_op *n;  \
  int32_t n##_count;
#define NSG_DECLARE_JOINS(n) \
  const struct nsg_join *n;  \
  int32_t n##_count;
#define NSG_DECLARE_STDIO(n) \
  const int32_t *n;          \
  int32_t n##_count; /* fd i <- n[i], -1 = closed */
#define NSG_DECLARE_BYTES(n) \
  const uint8_t *n;          \
  int32_t n##_count;
#define NSG_DECLARE_RLIMITS(n) \
  const struct nsg_rlimit *n;  \
  int32_t n##_count;
#define NSG_DECLARE_FIELD(type, name, key) NSG_DECLARE_##type(name)

struct nsg_op {
  NSG_OP_FIELDS(NSG_DECLARE_FIELD)
};
struct nsg_handover_fields {
  NSG_HANDOVER_FIELDS(NSG_DECLARE_FIELD)
};
struct nsg_join {
  NSG_JOIN_FIELDS(NSG_DECLARE_FIELD)
};
struct nsg_rlimit {
  NSG_RLIMIT_FIELDS(NSG_DECLARE_FIELD)
};

/* A stack for a CLONE_VM child (its top is base + size). */
struct nsg_stack {
  void *base;
  unsigned long size;
};

struct nsg_plan {
  NSG_PLAN_FIELDS(NSG_DECLARE_FIELD)

  /* Made by the parent (spawn.cc), not part of the TypeScript plan: fds in the table the child
     inherits, and the stacks of the processes a CLONE_VM child forks into a pid namespace. */
  int32_t sync_fd; /* read end: the parent's go-ahead bytes; EOF means the parent is gone */
  int32_t sync_peer_fd; /* write end, inherited too: the child closes its copy */
  int32_t report_fd; /* write end of the report pipe (close-on-exec) */
  int32_t init_fd; /* the init's executable (a sealed memfd), or -1 */
  struct nsg_stack init_stack, command_stack;
  struct nsg_handover *handover; /* with park: shared with the parent (MAP_SHARED) */
};

/* The most stdio entries a plan or a hand-over may have. */
#define NSG_MAX_STDIO 64
#define NSG_HANDOVER_MAGIC 0x6e736768u /* "nsgh" */

/*
 * What a parked process finds in its shared memory once the hand-over message arrives. Pointers
 * point into the same mapping, at the same address in the parent and the child (inherited by
 * fork, or the one memory of CLONE_VM). Written once by the parent, before the message.
 */
struct nsg_handover {
  uint32_t magic;
  int32_t fds_count; /* fds the message carries */
  int32_t stdio_count;
  int32_t stdio[NSG_MAX_STDIO]; /* fd i <- the stdio[i]-th fd received, -1 = closed */
  const char *cwd; /* NULL: stay where the plan left us */
  char *const *candidates;
  int32_t candidates_count;
  char *const *argv;
  char *const *envp;
  /* the strings and pointer arrays follow, in the same mapping */
};

/* The child's entry point; never returns (execs or exits 127 after reporting). */
int nsg_child_main(void *plan);

/*
 * clone/clone3 that runs fn(arg) in the child and exits with its result, so a child on its own
 * stack (CLONE_VM) never returns into the caller's frames. Returns the pid or -errno.
 */
long nsg_clone_call(long nr, long a0, long a1, long a2, long a3, long a4, int (*fn)(void *), void *arg);

#ifdef __cplusplus
}
#endif

#endif
