/*
 * What the child tells its parent over the report pipe: fixed 24-byte records (below PIPE_BUF,
 * so each write is atomic), written only by nsgroups' own code between clone and execve. Every
 * process that holds the write end either execs (it is close-on-exec) or exits, so no process
 * of the sandbox holds it once the command runs, and EOF without an error record means the
 * command's execve succeeded. The parent still treats each record as untrusted input
 * (child_watch.cc, lib/spawn/process.ts): checked, bounded, accepted only where it can come.
 */
#ifndef NSGROUPS_REPORT_H
#define NSGROUPS_REPORT_H

#include <stdint.h>

#define NSG_REPORT_MAGIC 0x7273676eu /* "nsgr" */

enum nsg_report_kind {
  NSG_REPORT_ERROR = 1, /* step, err (positive errno), index (which op/join/stdio, or -1),
                              value (which entry of that op's list, or -1) */
  NSG_REPORT_REQUEST = 2, /* the child waits for the parent to do something; value = request */
  NSG_REPORT_CHILD_PID = 3 /* a process forked into the pid namespace as the parent's child:
                              index = its role, value = its pid in the parent's namespace */
};

enum nsg_request {
  NSG_REQUEST_ID_MAPS = 1, /* write uid_map/gid_map for the user namespace just unshared */
  NSG_REQUEST_TIME_OFFSETS = 2, /* write timens_offsets for the time namespace just unshared */
  NSG_REQUEST_PARKED = 3 /* a warm pool's sandbox is ready: it waits for the hand-over */
};

enum nsg_child_role {
  NSG_ROLE_INIT = 0, /* pid 1: the init, a reaper that holds nothing of ours */
  NSG_ROLE_COMMAND = 1 /* the process that runs the rest of the plan and execs the command */
};

struct nsg_report {
  uint32_t magic;
  uint32_t kind;
  int32_t step;
  int32_t err;
  int32_t index;
  int32_t value;
};

/*
 * Steps of the child and the init, with the system call each stands for. One list for C and
 * TypeScript: the addon exports the names, and NsgroupsError.step / .syscall come from here.
 */
#define NSG_STEPS(X)                                                      \
  X(SIGNALS, "signals", "rt_sigaction")                                   \
  X(PDEATHSIG, "pdeathsig", "prctl")                                      \
  X(SYNC, "sync", "read")                                                 \
  X(SETSID, "setsid", "setsid")                                           \
  X(DUMPABLE, "dumpable", "prctl")                                        \
  X(SETNS, "setns", "setns")                                              \
  X(UNSHARE, "unshare", "unshare")                                        \
  X(ID_MAPS, "uid_map", "write")                                          \
  X(TIMENS, "timens", "setns")                                            \
  X(CGROUPNS, "cgroupns", "unshare")                                      \
  X(FORK, "fork", "clone")                                                \
  X(PLAN, "plan", "none")                                                 \
  X(RESOLVE, "resolve", "openat2")                                        \
  X(MOUNT, "mount", "mount")                                              \
  X(OPEN_TREE, "open_tree", "open_tree")                                  \
  X(MOVE_MOUNT, "move_mount", "move_mount")                               \
  X(REMOUNT, "remount", "mount")                                          \
  X(MOUNT_SETATTR, "mount_setattr", "mount_setattr")                      \
  X(MKDIR, "mkdir", "mkdirat")                                            \
  X(MKFILE, "mkfile", "openat")                                           \
  X(SYMLINK, "symlink", "symlinkat")                                      \
  X(PIVOT_ROOT, "pivot_root", "pivot_root")                               \
  X(UMOUNT, "umount", "umount2")                                          \
  X(SETHOSTNAME, "sethostname", "sethostname")                            \
  X(LOOPBACK, "loopback", "ioctl")                                        \
  X(CHDIR, "chdir", "chdir")                                              \
  X(EXECVE, "execve", "execve")                                           \
  X(STDIO, "stdio", "dup3")                                               \
  X(CLOSE_FDS, "close_range", "close_range")                              \
  X(SETGROUPS, "setgroups", "setgroups")                                  \
  X(SETRESGID, "setresgid", "setresgid")                                  \
  X(SETRESUID, "setresuid", "setresuid")                                  \
  X(NO_NEW_PRIVS, "no_new_privs", "prctl")                                \
  X(KEYRING, "keyring", "keyctl")                                         \
  X(RLIMIT, "rlimit", "prlimit64")                                        \
  X(KEEPCAPS, "keepcaps", "prctl")                                        \
  X(BOUNDING_SET, "bounding_set", "prctl")                                \
  X(CAPABILITIES, "capabilities", "capset")                               \
  X(AMBIENT, "ambient", "prctl")                                          \
  X(SECCOMP, "seccomp", "seccomp")                                        \
  X(HANDOVER, "handover", "recvmsg")                                      \
  X(INIT, "init", "execveat")                                             \
  X(CGROUP, "cgroup", "write") /* into cgroup.procs (procs_fds[index]) */ \
  /* the parent's own steps, named in the errors it makes */              \
  X(REPORT, "report", "read")

#define NSG_STEP_ENUM(id, name, syscall) NSG_STEP_##id,
enum nsg_step { NSG_STEPS(NSG_STEP_ENUM) NSG_STEP_COUNT };
#undef NSG_STEP_ENUM

#endif
