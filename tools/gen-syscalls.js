#!/usr/bin/env node
'use strict';
// Writes lib/seccomp/syscalls-x86_64.ts and lib/seccomp/syscalls-aarch64.ts (system call name →
// number) from the kernel headers on this machine (Debian's linux-libc-dev), plus the calls newer
// kernels added, written down below from the kernel's own tables; and lib/seccomp/errnos.ts, the
// errno names of <asm-generic/errno-base.h> and <asm-generic/errno.h> (x86_64 and arm64 both use
// the generic numbers), for the `errno` option (Node's os.constants.errno lacks some, e.g. EXFULL).
//
//   node tools/gen-syscalls.js          regenerate both files
//   node tools/gen-syscalls.js --check  fail if the committed files differ from what it would write
//
// x86_64:  <asm/unistd_64.h>, one `#define __NR_name N` per call.
// aarch64: arm64 has no table of its own: its uapi <asm/unistd.h> sets a few __ARCH_WANT_* switches
//          and includes <asm-generic/unistd.h> (arch/arm64/include/uapi/asm/unistd.h up to 6.10;
//          since 6.11 the same choice is arch/arm64/kernel/Makefile.syscalls:
//          `syscall_abis_64 += renameat newstat rlimit memfd_secret` over scripts/syscall.tbl).
//          The generic header is full of #if (32-bit-only calls, the switches), so it is read by
//          the C preprocessor itself (cc -E -dM) with arm64's switches, not by a regex.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const X86_64_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const GENERIC_HEADER = '/usr/include/asm-generic/unistd.h';
const ERRNO_HEADERS = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];

// What arm64 turns on in the generic table. __ARCH_WANT_SYS_CLONE3 and __ARCH_WANT_TIME32_SYSCALLS
// only matter on older headers (on a 64-bit ABI the "time32" names are the only ones).
const ARM64_SWITCHES = [
  '__ARCH_WANT_RENAMEAT',
  '__ARCH_WANT_NEW_STAT',
  '__ARCH_WANT_SET_GET_RLIMIT',
  '__ARCH_WANT_TIME32_SYSCALLS',
  '__ARCH_WANT_SYS_CLONE3',
  '__ARCH_WANT_MEMFD_SECRET',
];
// Macros of the generic header that are not system calls.
const NOT_SYSCALLS = new Set(['syscalls', 'arch_specific_syscall']);

// Calls added after the 6.1 headers Debian 12 ships, up to kernel 6.18, from the kernel's tables
// (arch/x86/entry/syscalls/syscall_64.tbl; scripts/syscall.tbl, which arm64 uses since 6.11).
// [name, number, first kernel]. Since 424 every architecture shares one numbering.
const NEWER_COMMON = [
  ['cachestat', 451, '6.5'],
  ['fchmodat2', 452, '6.6'],
  ['map_shadow_stack', 453, '6.6'],
  ['futex_wake', 454, '6.7'],
  ['futex_wait', 455, '6.7'],
  ['futex_requeue', 456, '6.7'],
  ['statmount', 457, '6.8'],
  ['listmount', 458, '6.8'],
  ['lsm_get_self_attr', 459, '6.8'],
  ['lsm_set_self_attr', 460, '6.8'],
  ['lsm_list_modules', 461, '6.8'],
  ['mseal', 462, '6.10'],
  ['setxattrat', 463, '6.13'],
  ['getxattrat', 464, '6.13'],
  ['listxattrat', 465, '6.13'],
  ['removexattrat', 466, '6.13'],
  ['open_tree_attr', 467, '6.15'],
  ['file_getattr', 468, '6.17'],
  ['file_setattr', 469, '6.17'],
];
// x86_64 only (syscall_64.tbl; the uprobe trampolines' calls, which seccomp never filters).
const NEWER_X86_64 = [
  ['uretprobe', 335, '6.11'],
  ['uprobe', 336, '6.16'],
];

function fromX86Header() {
  const table = new Map();
  for (const line of fs.readFileSync(X86_64_HEADER, 'utf8').split('\n')) {
    const m = /^#define __NR_(\w+)\s+(\d+)\s*$/.exec(line);
    if (m) table.set(m[1], Number(m[2]));
  }
  return table;
}

function fromGenericHeader() {
  const args = ['-E', '-dM', '-U__SYSCALL_COMPAT', ...ARM64_SWITCHES.map((s) => `-D${s}`), '-'];
  const macros = new Map();
  const out = execFileSync('cc', args, { input: `#include <${path.relative('/usr/include', GENERIC_HEADER)}>\n`, encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /^#define (__NR3264_\w+|__NR_\w+) (.+)$/.exec(line);
    if (m) macros.set(m[1], m[2].trim());
  }
  const value = (text, seen = 0) => {
    if (/^\d+$/.test(text)) return Number(text);
    if (macros.has(text) && seen < 4) return value(macros.get(text), seen + 1);
    throw new Error(`gen-syscalls: cannot evaluate ${text}`);
  };
  const table = new Map();
  for (const [macro, text] of macros) {
    if (!macro.startsWith('__NR_')) continue;
    const name = macro.slice('__NR_'.length);
    if (!NOT_SYSCALLS.has(name)) table.set(name, value(text));
  }
  // The header must have been read as a 64-bit ABI: fcntl, not fcntl64.
  if (!table.has('fcntl') || table.has('fcntl64')) throw new Error('gen-syscalls: the generic header was not read as a 64-bit ABI');
  return table;
}

function addNewer(table, newer, arch) {
  for (const [name, nr] of newer) {
    const had = table.get(name);
    if (had !== undefined && had !== nr) throw new Error(`gen-syscalls: ${arch} ${name} is ${had} in the headers but ${nr} below`);
    for (const [other, n] of table) if (n === nr && other !== name) throw new Error(`gen-syscalls: ${arch} ${nr} is both ${other} and ${name}`);
    table.set(name, nr);
  }
}

function render(arch, constName, table, sources, newer) {
  const rows = [...table].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const added = new Set(newer.map(([n]) => n));
  const since = new Map(newer.map(([n, , v]) => [n, v]));
  const lines = rows.map(
    ([name, nr]) => `  ${/^[a-z_][a-z0-9_]*$/.test(name) ? name : JSON.stringify(name)}: ${nr},${added.has(name) ? ` // ${since.get(name)}` : ''}`,
  );
  return (
    `// Generated by tools/gen-syscalls.js; do not edit (run \`node tools/gen-syscalls.js\`).\n` +
    `// ${arch} system call numbers, name → number (${rows.length} calls), from:\n` +
    sources.map((s) => `//   ${s}\n`).join('') +
    `// and, marked with the kernel that added them, calls newer than those headers (up to 6.18).\n` +
    `export const ${constName}: Readonly<Record<string, number>> = {\n${lines.join('\n')}\n};\n`
  );
}

function fromErrnoHeaders() {
  const table = new Map();
  for (const file of ERRNO_HEADERS) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^#define\s+(E[A-Z0-9]+)\s+(\d+|E[A-Z0-9]+)\b/.exec(line);
      if (m) table.set(m[1], /^\d+$/.test(m[2]) ? Number(m[2]) : table.get(m[2]));
    }
  }
  if (table.get('EPERM') !== 1 || table.get('EHWPOISON') === undefined) throw new Error('gen-syscalls: unexpected errno headers');
  return table;
}

function renderErrnos(table, version) {
  const rows = [...table].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  return (
    `// Generated by tools/gen-syscalls.js; do not edit (run \`node tools/gen-syscalls.js\`).\n` +
    `// Linux errno names → numbers (${rows.length}; aliases such as EWOULDBLOCK included), from:\n` +
    ERRNO_HEADERS.map((f) => `//   ${f} (linux-libc-dev ${version})\n`).join('') +
    `export const ERRNOS: Readonly<Record<string, number>> = {\n${rows.map(([n, v]) => `  ${n}: ${v},`).join('\n')}\n};\n`
  );
}

function headerVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'linux-libc-dev'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function main() {
  const check = process.argv.includes('--check');
  const version = headerVersion();
  const x86 = fromX86Header();
  addNewer(x86, [...NEWER_COMMON, ...NEWER_X86_64], 'x86_64');
  const arm = fromGenericHeader();
  addNewer(arm, NEWER_COMMON, 'aarch64');
  const files = {
    'lib/seccomp/syscalls-x86_64.ts': render(
      'x86_64',
      'SYSCALLS_X86_64',
      x86,
      [`${X86_64_HEADER} (linux-libc-dev ${version})`],
      [...NEWER_COMMON, ...NEWER_X86_64],
    ),
    'lib/seccomp/syscalls-aarch64.ts': render(
      'aarch64',
      'SYSCALLS_AARCH64',
      arm,
      [`${GENERIC_HEADER} (linux-libc-dev ${version}) through cc -E with arm64's switches:`, `  ${ARM64_SWITCHES.join(' ')}`],
      NEWER_COMMON,
    ),
    'lib/seccomp/errnos.ts': renderErrnos(fromErrnoHeaders(), version),
  };
  let stale = 0;
  for (const [file, text] of Object.entries(files)) {
    const full = path.join(root, file);
    if (check) {
      const now = fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : '';
      if (now !== text) {
        console.error(`${file} is not what tools/gen-syscalls.js writes`);
        stale++;
      }
    } else {
      fs.writeFileSync(full, text);
      console.log(`wrote ${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}

main();
