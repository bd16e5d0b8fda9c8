// seccomp for sandboxes: the `seccomp` option of spawn (validation), the default profile, the
// compiler to a classic BPF filter for x86_64 and aarch64, and a disassembler. docs/seccomp.md.
// The child installs the filter last before execve, after PR_SET_NO_NEW_PRIVS:
// seccomp(SECCOMP_SET_MODE_FILTER, flags, &(struct sock_fprog){ filter.length / 8, filter }).
export { resolveSeccomp, defaultProfile } from './options';
export type { SeccompOption, SeccompRules, ResolvedSeccomp, SeccompProfile, SeccompRawFilter } from './options';
export { compileSeccomp } from './compile';
export type { CompiledSeccomp } from './compile';
export { describeSeccompFilter } from './describe';
export { DEFAULT_DENY, ESSENTIAL_SYSCALLS, SAFE_PERSONALITIES } from './profile';
export type { DenyEntry, SyscallRule } from './profile';
export { hostSeccompArch, syscallNumber, syscallName, KNOWN_SYSCALLS, AUDIT_ARCH, SECCOMP_ARCHES } from './arch';
export type { SeccompArch } from './arch';
export { SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, SOCK_FILTER_SIZE } from './bpf';

import { compileSeccomp as compileResolved, type CompiledSeccomp as Compiled } from './compile';
import { resolveSeccomp as resolveOption, type SeccompOption as Option } from './options';
import type { SeccompArch as Arch } from './arch';

/**
 * The filter a sandbox with `seccomp: option` gets, as the kernel will run it: the bytes of the
 * struct sock_filter array and the seccomp(2) flags (null for 'none'). For audits, tests and
 * tools that install the same filter elsewhere; describeSeccompFilter() prints it.
 * @throws NsgroupsError ERR_INVALID_ARG for an option spawn would refuse
 * @example
 * const { filter, flags } = seccompFilter({ allow: ['keyctl'] })!;
 * console.log(filter.length / 8, 'instructions', flags);
 */
export function seccompFilter(option: Option = 'default', arch?: Arch): Compiled | null {
  const resolved = resolveOption(option);
  return resolved ? compileResolved(resolved, arch) : null;
}
