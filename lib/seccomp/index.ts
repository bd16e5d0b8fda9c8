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
