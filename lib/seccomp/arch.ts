// The architectures a profile compiles for, and their system call tables.
import * as os from 'node:os';
import { unsupported } from '../errors';
import { SYSCALLS_AARCH64 } from './syscalls-aarch64';
import { SYSCALLS_X86_64 } from './syscalls-x86_64';

/** An architecture the seccomp compiler has a system call table for (uname -m's name). */
export type SeccompArch = 'x86_64' | 'aarch64';
export const SECCOMP_ARCHES: readonly SeccompArch[] = ['x86_64', 'aarch64'];

// <linux/audit.h>: EM_X86_64 (62) and EM_AARCH64 (183), | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };
/** what seccomp_data.arch says for the other ABIs a process on these kernels can use */
export const AUDIT_ARCH_NAMES: Readonly<Record<number, string>> = {
  0xc000003e: 'AUDIT_ARCH_X86_64',
  0x40000003: 'AUDIT_ARCH_I386',
  0xc00000b7: 'AUDIT_ARCH_AARCH64',
  0x40000028: 'AUDIT_ARCH_ARM',
};
/** x86_64's x32 ABI shares AUDIT_ARCH_X86_64 and marks its calls with this bit in nr (asm/unistd.h) */
export const X32_SYSCALL_BIT = 0x40000000;

const TABLES: Readonly<Record<SeccompArch, Readonly<Record<string, number>>>> = {
  x86_64: SYSCALLS_X86_64,
  aarch64: SYSCALLS_AARCH64,
};

export function syscallTable(arch: SeccompArch): Readonly<Record<string, number>> {
  return TABLES[arch];
}

/** The call's number on `arch`, or undefined where the architecture has no such call. */
export function syscallNumber(name: string, arch: SeccompArch): number | undefined {
  return Object.prototype.hasOwnProperty.call(TABLES[arch], name) ? TABLES[arch][name] : undefined;
}

const byNumber = new Map<SeccompArch, Map<number, string>>();
/** The call's name on `arch` for a number, or undefined. */
export function syscallName(nr: number, arch: SeccompArch): string | undefined {
  let m = byNumber.get(arch);
  if (!m) byNumber.set(arch, (m = new Map(Object.entries(TABLES[arch]).map(([n, v]) => [v, n]))));
  return m.get(nr);
}

/** Every name some supported architecture knows, sorted (what option validation accepts). */
export const KNOWN_SYSCALLS: readonly string[] = [...new Set(SECCOMP_ARCHES.flatMap((a) => Object.keys(TABLES[a])))].sort();

/** The architecture of this Node process, which is what its children run (a 32-bit Node is not served). */
export function hostSeccompArch(): SeccompArch {
  // seccomp_data is in the host's byte order and the compiler reads args[i] low words at +0.
  if (os.endianness() !== 'LE') throw unsupported('seccomp profiles are built for little-endian hosts only');
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw unsupported(
    `seccomp profiles are built for x86_64 and aarch64, not ${process.arch}: ` +
      `pass seccomp: 'none', or a raw filter (a Buffer of struct sock_filter) written for this architecture`,
  );
}
