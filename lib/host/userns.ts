// May an unprivileged user create user namespaces on this host, and if not, why? Decided from
// the sysctls that gate it, read from /proc/sys (a pure function of their values, so that it can
// be tested on recorded inputs of hosts we cannot run here: Ubuntu 24.04's AppArmor, old Debian).
import * as fs from 'node:fs';

/** The sysctls (and AppArmor's state) that decide whether an unprivileged user may create a user namespace; null for one the kernel lacks. */
export interface UsernsSysctls {
  /** /proc/sys/user/max_user_namespaces (0 disables user namespaces for everyone) */
  maxUserNamespaces: number | null;
  /** /proc/sys/kernel/unprivileged_userns_clone (Debian and Ubuntu kernels; absent upstream) */
  unprivilegedUsernsClone: number | null;
  /** /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+) */
  apparmorRestrict: number | null;
  /** is AppArmor enabled at all (/sys/module/apparmor/parameters/enabled = Y) */
  apparmorEnabled: boolean;
}

export interface UsernsDecision {
  allowed: boolean;
  /** why not, and what to do about it */
  reason?: string;
}

export function decideUnprivilegedUserns(s: UsernsSysctls): UsernsDecision {
  if (s.maxUserNamespaces === 0) {
    return {
      allowed: false,
      reason: 'user.max_user_namespaces is 0: user namespaces are disabled for everyone; fix: sysctl -w user.max_user_namespaces=15000',
    };
  }
  if (s.unprivilegedUsernsClone === 0) {
    return {
      allowed: false,
      reason: 'kernel.unprivileged_userns_clone is 0: only root may create user namespaces; fix: sysctl -w kernel.unprivileged_userns_clone=1',
    };
  }
  if (s.apparmorEnabled && s.apparmorRestrict === 1) {
    return {
      allowed: false,
      reason:
        'kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+): AppArmor denies unprivileged user namespaces to ' +
        'programs without a profile that allows them; fix: an AppArmor profile for node with the `userns,` rule, ' +
        'or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
    };
  }
  return { allowed: true };
}

function readNumber(file: string): number | null {
  try {
    const n = parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isNaN(n) ? null : n;
  } catch {
    return null;
  }
}

export function readUsernsSysctls(): UsernsSysctls {
  let apparmorEnabled = false;
  try {
    apparmorEnabled = fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    /* no AppArmor */
  }
  return {
    maxUserNamespaces: readNumber('/proc/sys/user/max_user_namespaces'),
    unprivilegedUsernsClone: readNumber('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrict: readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    apparmorEnabled,
  };
}
