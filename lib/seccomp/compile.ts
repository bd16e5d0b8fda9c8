// Compiles a profile into a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER). Shape:
//
//   ld [arch]; jeq AUDIT_ARCH_<arch> ? next : KILL_PROCESS      other ABIs (i386, arm32) die
//   ld [nr]                                                      the number, in A from here on
//   x86_64: jset X32_SYSCALL_BIT ? KILL_PROCESS : next           the x32 ABI dies too
//   a binary search over the numbers the profile names (jge splits, jeq leaves of at most 4):
//   a match runs that call's rule, which ends in a ret; a miss reaches `ret ALLOW` at its leaf.
//
// Every block ends in a ret and jumps only forward inside itself, so blocks concatenate without
// fix-ups, and no conditional jump can exceed the 255 its 8-bit offset holds (a wider subtree is
// stepped over with `ja`, whose offset is 32 bits). For calls whose path loads only arch and nr,
// the kernel precomputes the verdict once (the action cache, kernel >= 5.11): allowed calls then
// cost nothing; only the refused ones and the argument checks run the program.
import { invalidArg } from '../errors';
import { AUDIT_ARCH, hostSeccompArch, SeccompArch, syscallNumber, X32_SYSCALL_BIT } from './arch';
import {
  argHigh,
  argLow,
  BPF_MAXINSNS,
  checkProgram,
  encode,
  Insn,
  ja,
  jeq,
  jge,
  jset,
  ldAbs,
  OFFSET_ARCH,
  OFFSET_NR,
  ret,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
} from './bpf';
import type { ResolvedSeccomp, SeccompProfile } from './options';
import type { SyscallRule } from './profile';

const ENOSYS = 38; // the same on x86_64 and aarch64 (asm-generic/errno.h)
const LEAF_SIZE = 4;
const MAX_JUMP = 255;

/** A seccomp filter as the kernel runs it (seccompFilter()'s result). */
export interface CompiledSeccomp {
  /** struct sock_filter[], little-endian: what sock_fprog.filter points at (length = bytes / 8) */
  filter: Buffer;
  /** flags for seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog) */
  flags: number;
}

/** The filter and flags for `arch` (default: this process's architecture). A raw filter passes as it is. */
// A profile object compiles to the same program every time: the shared default (and a profile
// reused across spawns) is compiled once per architecture. Callers never mutate the result.
const compiled = new WeakMap<ResolvedSeccomp, Map<SeccompArch, CompiledSeccomp>>();

export function compileSeccomp(r: ResolvedSeccomp, arch: SeccompArch = hostSeccompArch()): CompiledSeccomp {
  let byArch = compiled.get(r);
  if (!byArch) compiled.set(r, (byArch = new Map()));
  let out = byArch.get(arch);
  if (!out) {
    out =
      r.kind === 'raw' ? { filter: Buffer.from(r.filter), flags: 0 } : { filter: encode(profileProgram(r, arch)), flags: r.log ? SECCOMP_FILTER_FLAG_LOG : 0 };
    byArch.set(arch, out);
  }
  return out;
}

interface Entry {
  name: string;
  nr: number;
  rule: SyscallRule;
}

export function profileProgram(profile: SeccompProfile, arch: SeccompArch): Insn[] {
  const entries: Entry[] = [];
  for (const [name, rule] of Object.entries(profile.rules)) {
    const nr = syscallNumber(name, arch);
    if (nr !== undefined) entries.push({ name, nr, rule });
  }
  entries.sort((a, b) => a.nr - b.nr);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].nr === entries[i - 1].nr) throw new Error(`seccomp: ${entries[i - 1].name} and ${entries[i].name} share number ${entries[i].nr} on ${arch}`);
  }
  const refuse = ret(SECCOMP_RET_ERRNO | profile.errno);
  const program = [ldAbs(OFFSET_ARCH), jeq(AUDIT_ARCH[arch], 1, 0), ret(SECCOMP_RET_KILL_PROCESS), ldAbs(OFFSET_NR)];
  if (arch === 'x86_64') program.push(jset(X32_SYSCALL_BIT, 0, 1), ret(SECCOMP_RET_KILL_PROCESS));
  program.push(...search(entries, refuse));
  if (program.length > BPF_MAXINSNS)
    throw invalidArg(`seccomp: the profile compiles to ${program.length} instructions, more than the kernel's ${BPF_MAXINSNS}`);
  const problem = checkProgram(program);
  if (problem) throw new Error(`seccomp: compiled an invalid filter (a bug): ${problem}`);
  return program;
}

function search(entries: readonly Entry[], refuse: Insn): Insn[] {
  if (entries.length <= LEAF_SIZE) return leaf(entries, refuse);
  const mid = entries.length >> 1;
  const below = search(entries.slice(0, mid), refuse);
  const above = search(entries.slice(mid), refuse);
  const pivot = entries[mid].nr;
  // nr >= pivot: skip the lower half
  if (below.length <= MAX_JUMP) return [jge(pivot, below.length, 0), ...below, ...above];
  return [jge(pivot, 0, 1), ja(below.length), ...below, ...above];
}

function leaf(entries: readonly Entry[], refuse: Insn): Insn[] {
  const out: Insn[] = [];
  for (const e of entries) {
    const body = ruleBody(e.rule, refuse);
    out.push(jeq(e.nr, 0, body.length), ...body);
  }
  out.push(ret(SECCOMP_RET_ALLOW));
  return out;
}

/** What runs once nr matched: ends in a ret on every path. */
export function ruleBody(rule: SyscallRule, refuse: Insn): Insn[] {
  const allow = ret(SECCOMP_RET_ALLOW);
  switch (rule.kind) {
    case 'deny':
      return [refuse];
    case 'enosys':
      return [ret(SECCOMP_RET_ERRNO | ENOSYS)];
    case 'denyIfFlags':
      return [ldAbs(argLow(rule.arg)), jset(rule.mask, 0, 1), refuse, allow];
    case 'denyIfValue': {
      if (rule.values.length > 64) throw new Error('seccomp: an argument rule takes at most 64 values');
      // ld low; jeq v1..vn ? refuse : next (the last: ? refuse : allow); refuse; allow
      const n = rule.values.length;
      const chain = rule.values.map((v, i) => jeq(v, n - 1 - i, i === n - 1 ? 1 : 0));
      return [ldAbs(argLow(rule.arg)), ...chain, refuse, allow];
    }
    case 'denyUnlessValue': {
      if (rule.values.length > 64) throw new Error('seccomp: an argument rule takes at most 64 values');
      // ld high; jeq 0 ? next : refuse; ld low; jeq v1..vn ? allow : next (the last falls to refuse); refuse; allow
      const n = rule.values.length;
      const chain = rule.values.map((v, i) => jeq(v, n - i, 0));
      return [ldAbs(argHigh(rule.arg)), jeq(0, 0, n + 1), ldAbs(argLow(rule.arg)), ...chain, refuse, allow];
    }
  }
}
