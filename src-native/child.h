/*
 * The plan a sandboxed child runs between clone and execve. The parent (spawn.cc) builds it in
 * one arena before clone; the child (child.c) only reads it and makes raw system calls. What
 * to do and in which order is decided in TypeScript (lib/spawn/plan.ts); this is the mechanism.
 */
#ifndef NSGROUPS_CHILD_H
#define NSGROUPS_CHILD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One filesystem or host-identity operation, run in order after the namespaces exist. */
enum nsg_op_kind {
  NSG_OP_MOUNT = 1,     /* mount(a=source, b=target, c=fstype, flags, d=data) */
  NSG_OP_MKDIR = 2,     /* mkdir -p a (mode); existing directories are fine */
  NSG_OP_MKFILE = 3,    /* create an empty file a (mode) to bind a file onto; exists is fine */
  NSG_OP_SYMLINK = 4,   /* symlink(a=target, b=linkpath) */
  NSG_OP_REMOUNT = 5,   /* bind-remount a with flags, keeping the flags the kernel locked */
  NSG_OP_MOUNT_SETATTR = 6, /* mount_setattr(a, AT_RECURSIVE if flags2, attr_set=flags) */
  NSG_OP_PIVOT_ROOT = 7,    /* chdir(a); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/") */
  NSG_OP_UMOUNT = 8,    /* umount2(a, flags) */
  NSG_OP_SETHOSTNAME = 9,   /* sethostname(a) */
  NSG_OP_LOOPBACK_UP = 10,  /* bring "lo" up in the current network namespace */
  NSG_OP_CHDIR = 11         /* chdir(a) */
};

struct nsg_op {
  int32_t kind;
  uint32_t mode;
  uint64_t flags;
  uint64_t flags2;
  const char *a, *b, *c, *d;
};

struct nsg_join {
  int32_t fd;     /* an open namespace file (nsfs) in the parent's table, inherited */
  int32_t nstype; /* CLONE_NEW* for setns */
};

/* Where the init's argv takes the resolved command path (argv[0] is the init's name). */
#define NSG_INIT_ARGV_PATH 3

struct nsg_plan {
  /* fds in the table the child inherits */
  int32_t sync_fd;        /* read end: the parent's go-ahead; EOF means the parent is gone */
  int32_t sync_peer_fd;   /* write end, inherited too: the child closes its copy */
  int32_t report_fd;      /* write end of the report pipe (close-on-exec) */
  int32_t init_fd;        /* the init's executable (memfd), or -1 to exec the command itself */
  int32_t nstdio;
  const int32_t *stdio;   /* stdio[i] = fd to install as fd i in the command, -1 = leave closed */

  /* namespaces: those made at clone are in the clone flags, not here */
  int32_t njoins;
  const struct nsg_join *joins; /* setns in this order (those needing the user namespace last) */
  int32_t nondumpable;          /* PR_SET_DUMPABLE 0 before joining (fork-style children only) */
  uint64_t unshare_user;        /* CLONE_NEWUSER after the joins; the parent then writes maps */
  uint64_t unshare_flags;       /* other CLONE_NEW* after the joins (and after the user ns) */
  int32_t fork_after_unshare;   /* a pid namespace was joined or unshared: fork to enter it */
  int32_t unshare_time;         /* CLONE_NEWTIME, offsets from the parent, then enter it */
  int32_t unshare_cgroup_late;  /* CLONE_NEWCGROUP after the parent moved us into cgroups */

  int32_t nops;
  const struct nsg_op *ops;

  const char *cwd;              /* NULL = inherit */
  int32_t ncandidates;
  const char *const *candidates; /* the command's possible paths, PATH order */
  char *const *argv;
  char *const *envp;
  char **init_argv;             /* slot NSG_INIT_ARGV_PATH receives the chosen candidate */

  int32_t set_ids;              /* setresgid/setresuid to gid/uid */
  uint32_t uid, gid;
  int32_t set_groups;           /* setgroups(ngroups, groups) (needs setgroups "allow") */
  int32_t ngroups;
  const uint32_t *groups;

  int32_t pdeathsig;            /* signal when the spawning thread dies, 0 = none */
  int32_t new_session;
  int32_t no_new_privs;
};

/* The child's entry point; never returns (execs or exits 127 after reporting). */
int nsg_child_main(void *plan);

/*
 * clone/clone3 that runs fn(arg) in the child and exits with its result, so a child on its own
 * stack (CLONE_VM) never returns into the caller's frames. Returns the pid or -errno.
 */
long nsg_clone_call(long nr, long a0, long a1, long a2, long a3, long a4, int (*fn)(void *),
                    void *arg);

#ifdef __cplusplus
}
#endif

#endif
