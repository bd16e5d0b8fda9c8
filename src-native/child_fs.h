/*
 * The child's filesystem steps (child_fs.c): paths resolved inside the sandbox's root, mounts
 * made onto the file descriptors those resolutions return. Same rules as child.c: raw system
 * calls, no allocation, results are the kernel's (negative errno on failure).
 */
#ifndef NSGROUPS_CHILD_FS_H
#define NSGROUPS_CHILD_FS_H

#include "child.h"

/* The step of report.h a failed op names, and the error, for fail(). */
struct nsg_op_result {
  int step;
  long err; /* 0 or -errno */
  int item; /* which entry of an op's list failed (NSG_OP_DEV, MASK, READONLY), else -1 */
};

/*
 * Runs one op. *root_fd is the root NSG_OP_ROOT opened (-1 before), which in_root targets are
 * resolved under; NSG_OP_ROOT sets it and NSG_OP_PIVOT_ROOT closes it.
 */
struct nsg_op_result nsg_run_op(const struct nsg_op *op, int *root_fd);

#endif
