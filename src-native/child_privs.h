/*
 * The child's privilege steps (child_privs.c): capabilities, keyring, resource limits, seccomp.
 * Each returns the step of report.h that failed, the error and an index (0 for success).
 */
#ifndef NSGROUPS_CHILD_PRIVS_H
#define NSGROUPS_CHILD_PRIVS_H

#include <stdint.h>

#include "child.h"

struct nsg_privs_result {
  int step;
  long err; /* 0 or -errno */
  int index;
};

struct nsg_privs_result nsg_drop_bounding_set(uint64_t keep);
struct nsg_privs_result nsg_set_capabilities(uint64_t keep);
struct nsg_privs_result nsg_join_new_keyring(void);
struct nsg_privs_result nsg_set_rlimits(const struct nsg_rlimit *limits, int count);
struct nsg_privs_result nsg_install_seccomp(const uint8_t *filter, int bytes, uint32_t flags);

#endif
