/*
 * The child's last steps before execve: what the command may do. Capabilities (every set),
 * a session keyring of its own, resource limits, the seccomp filter. Raw system calls only
 * (child.c's rules: this may run in a CLONE_VM child).
 */
#include "child_privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include "rawsys.h"
#include "report.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static struct nsg_privs_result ok(void) {
  struct nsg_privs_result r = {0, 0, -1};
  return r;
}

static struct nsg_privs_result failed(int step, long err, int index) {
  struct nsg_privs_result r = {step, err, index};
  return r;
}

/* The bounding set is what any later execve can grant (capabilities(7)): every capability not
   kept leaves it, up to the last one this kernel knows (PR_CAPBSET_READ says EINVAL past it).
   Needs CAP_SETPCAP, so it comes while the child still has its capabilities. */
struct nsg_privs_result nsg_drop_bounding_set(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    long present = nsg_sys2(__NR_prctl, PR_CAPBSET_READ, cap);
    if (present == -EINVAL) break;
    if (present < 0) return failed(NSG_STEP_BOUNDING_SET, present, cap);
    if (!present || (keep & (1ULL << cap))) continue;
    long r = nsg_sys2(__NR_prctl, PR_CAPBSET_DROP, cap);
    if (r < 0) return failed(NSG_STEP_BOUNDING_SET, r, cap);
  }
  return ok();
}

/* Effective, permitted and inheritable become `keep` (capset(2) can only lower permitted), and
   the ambient set exactly `keep` too, so that kept capabilities survive execve for any uid; the
   bounding set no longer has the others, so no execve gives them back. */
struct nsg_privs_result nsg_set_capabilities(uint64_t keep) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  /* what can be kept is what is permitted now (the caller's bounding set may lack some) */
  long r = nsg_sys2(__NR_capget, &header, data);
  if (r < 0) return failed(NSG_STEP_CAPABILITIES, r, -1);
  keep &= (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
  for (int i = 0; i < 2; i++) {
    uint32_t word = (uint32_t)(keep >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = word;
  }
  r = nsg_sys2(__NR_capset, &header, data);
  if (r < 0) return failed(NSG_STEP_CAPABILITIES, r, -1);
  r = nsg_sys5(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r < 0 && r != -EINVAL) return failed(NSG_STEP_AMBIENT, r, -1); /* EINVAL: before Linux 4.3 */
  for (int cap = 0; cap < 64 && r >= 0; cap++) {
    if (!(keep & (1ULL << cap))) continue;
    long raised = nsg_sys5(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    if (raised < 0) return failed(NSG_STEP_AMBIENT, raised, cap);
  }
  return ok();
}

/* A keyring is per session, not per namespace: without a new one the command shares the
   caller's session keyring and its keys (runc and crun join a fresh one per container). */
struct nsg_privs_result nsg_join_new_keyring(void) {
  long r = nsg_sys2(__NR_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0);
  if (r == -ENOSYS) return ok(); /* a kernel without keyrings (CONFIG_KEYS) has none to share */
  return r < 0 ? failed(NSG_STEP_KEYRING, r, -1) : ok();
}

struct nsg_privs_result nsg_set_rlimits(const struct nsg_rlimit *limits, int count) {
  const uint64_t infinity_from = (1ULL << 53) - 1;
  for (int i = 0; i < count; i++) {
    struct {
      uint64_t cur, max;
    } lim = {limits[i].soft >= infinity_from ? ~0ULL : limits[i].soft,
             limits[i].hard >= infinity_from ? ~0ULL : limits[i].hard};
    long r = nsg_sys4(__NR_prlimit64, 0, limits[i].resource, &lim, 0);
    if (r < 0) return failed(NSG_STEP_RLIMIT, r, i);
  }
  return ok();
}

/* Last before execve: a filter refuses nothing of what is left to do (execve, and on failure
   write and exit_group). seccomp(2) needs no_new_privs or CAP_SYS_ADMIN. */
struct nsg_privs_result nsg_install_seccomp(const uint8_t *filter, int bytes, uint32_t flags) {
  if (bytes <= 0) return ok();
  struct sock_fprog prog = {(unsigned short)(bytes / sizeof(struct sock_filter)),
                            (struct sock_filter *)(unsigned long)filter};
  long r = nsg_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  return r < 0 ? failed(NSG_STEP_SECCOMP, r, -1) : ok();
}
