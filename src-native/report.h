/*
 * What the sandbox tells its parent over the report pipe: fixed 24-byte records (below PIPE_BUF,
 * so each write is atomic), written by the child between clone and execve and by the init.
 * The parent's end is close-on-exec in the child, so EOF without an error record means the
 * command's execve succeeded (when there is no init; the init sends SPAWNED instead).
 */
#ifndef NSGROUPS_REPORT_H
#define NSGROUPS_REPORT_H

#include <stdint.h>

#define NSG_REPORT_MAGIC 0x7273676eu /* "nsgr" */

enum nsg_report_kind {
  NSG_REPORT_ERROR = 1,    /* step, err (positive errno), index (which op/join/candidate) */
  NSG_REPORT_SPAWNED = 2,  /* the init exec'd the command; value = its pid inside the namespace */
  NSG_REPORT_STATUS = 3,   /* the init saw the command end; value = its raw wait status */
  NSG_REPORT_REQUEST = 4,  /* the child waits for the parent to do something; value = request */
  NSG_REPORT_CHILD_PID = 5 /* the process that will exec has this pid in the parent's namespace */
};

enum nsg_request {
  NSG_REQUEST_ID_MAPS = 1,     /* write uid_map/gid_map for the user namespace just unshared */
  NSG_REQUEST_TIME_OFFSETS = 2 /* write timens_offsets for the time namespace just unshared */
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
#define NSG_STEPS(X)                          \
  X(SIGNALS, "signals", "rt_sigaction")       \
  X(PDEATHSIG, "pdeathsig", "prctl")          \
  X(SYNC, "sync", "read")                     \
  X(SETSID, "setsid", "setsid")               \
  X(SETNS, "setns", "setns")                  \
  X(UNSHARE, "unshare", "unshare")            \
  X(ID_MAPS, "uid_map", "write")              \
  X(TIMENS, "timens", "setns")                \
  X(CGROUPNS, "cgroupns", "unshare")          \
  X(MOUNT, "mount", "mount")                  \
  X(MKDIR, "mkdir", "mkdir")                  \
  X(MKFILE, "mkfile", "open")                 \
  X(SYMLINK, "symlink", "symlink")            \
  X(REMOUNT, "remount", "mount")              \
  X(MOUNT_SETATTR, "mount_setattr", "mount_setattr") \
  X(PIVOT_ROOT, "pivot_root", "pivot_root")   \
  X(UMOUNT, "umount", "umount2")              \
  X(SETHOSTNAME, "sethostname", "sethostname") \
  X(LOOPBACK, "loopback", "ioctl")            \
  X(CHDIR, "chdir", "chdir")                  \
  X(EXECVE, "execve", "execve")               \
  X(STDIO, "stdio", "dup3")                   \
  X(CLOSE_FDS, "close_range", "close_range")  \
  X(SETGROUPS, "setgroups", "setgroups")      \
  X(SETRESGID, "setresgid", "setresgid")      \
  X(SETRESUID, "setresuid", "setresuid")      \
  X(NO_NEW_PRIVS, "no_new_privs", "prctl")    \
  X(PARENT_CHECK, "parent_check", "ppoll")    \
  X(FORK, "fork", "clone")                    \
  X(INIT, "init", "execveat")

#define NSG_STEP_ENUM(id, name, syscall) NSG_STEP_##id,
enum nsg_step { NSG_STEPS(NSG_STEP_ENUM) NSG_STEP_COUNT };
#undef NSG_STEP_ENUM

#endif
