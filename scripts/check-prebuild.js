#!/usr/bin/env node
'use strict';
// Checks each prebuild named against what its name promises (prebuilds/linux-<arch>/nsgroups.<libc>.node):
//   - an ELF shared object for that machine;
//   - glibc: no symbol version above GLIBC_2.28, no GLIBCXX/CXXABI at all (libc++ is linked in);
//     musl: no glibc symbol versions and no libc.so.6;
//   - NEEDED: only the C library's own parts, nothing else a user would have to install;
//   - exports: only the N-API entry points (the static libc++ stays hidden, so it cannot
//     interpose on, or be interposed by, the libstdc++ that Node itself loads);
//   - the embedded init (pid 1 of a sandbox) is a static executable for the same machine.
// Prints one line per file with what it saw; exits 1, with the reasons, when something is off.
// Reads the file with readelf(1) (binutils), which reads ELF of any machine.
// usage: node scripts/check-prebuild.js FILE... [--max-glibc=2.28]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const MACHINES = {
  x64: { readelf: 'Advanced Micro Devices X86-64', em: 62, loader: 'ld-linux-x86-64.so.2' },
  arm64: { readelf: 'AArch64', em: 183, loader: 'ld-linux-aarch64.so.1' },
};
const NEEDED = {
  // glibc's own parts; its dynamic loader exports __stack_chk_guard on aarch64
  glibc: (arch) => ['libc.so.6', 'libpthread.so.0', 'libdl.so.2', 'libm.so.6', MACHINES[arch].loader],
  musl: () => ['libc.so'], // musl's loader answers for libc.so itself (ldso/dynlink.c: load_library)
};
const EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];

const versionKey = (v) =>
  v
    .split('.')
    .map(Number)
    .reduce((a, n, i) => a + n * 1000 ** (3 - i), 0);

/** What `file` is, as one line, and what is wrong with it. */
function check(file) {
  const where = /linux-(x64|arm64)[/\\][^/\\]*\.(glibc|musl)\.node$/.exec(file);
  if (!where) return { summary: `${file}: ?`, problems: ['not named prebuilds/linux-<x64|arm64>/<name>.<glibc|musl>.node'] };
  const [, arch, libc] = where;
  const problems = [];
  const readelf = (...flags) => execFileSync('readelf', ['-W', ...flags, file], { encoding: 'utf8' });

  // 1. the object itself
  const header = readelf('-h');
  const machine = /Machine:\s+(.*)/.exec(header)?.[1].trim();
  const type = /Type:\s+(\S+)/.exec(header)?.[1];
  if (machine !== MACHINES[arch].readelf) problems.push(`machine is ${machine}, not ${MACHINES[arch].readelf}`);
  if (type !== 'DYN') problems.push(`ELF type ${type}, not DYN (a shared object)`);

  // 2. libraries it needs, and the symbol versions it asks of them
  const needed = [...readelf('-d').matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const allowed = NEEDED[libc](arch);
  const unexpected = needed.filter((n) => !allowed.includes(n));
  if (unexpected.length) problems.push(`NEEDs ${unexpected.join(', ')} (allowed for ${libc}: ${allowed.join(', ')})`);
  const versions = [...new Set([...readelf('-V').matchAll(/Name: ([A-Z]+_[0-9.]+)/g)].map((m) => m[1]))];
  const glibcVersions = versions
    .filter((v) => v.startsWith('GLIBC_'))
    .map((v) => v.slice(6))
    .sort((a, b) => versionKey(a) - versionKey(b));
  const cxxVersions = versions.filter((v) => /^(GLIBCXX|CXXABI)_/.test(v));
  const highest = glibcVersions[glibcVersions.length - 1] ?? null;
  if (libc === 'glibc') {
    if (highest && versionKey(highest) > versionKey(maxGlibc)) {
      problems.push(
        `needs GLIBC_${highest} > ${maxGlibc}: ${glibcVersions
          .filter((v) => versionKey(v) > versionKey(maxGlibc))
          .map((v) => `GLIBC_${v}`)
          .join(', ')}`,
      );
    }
    if (cxxVersions.length) problems.push(`needs the system libstdc++ (${cxxVersions.join(', ')})`);
  } else {
    if (versions.length) problems.push(`asks glibc symbol versions of a musl build (${versions.join(', ')})`);
  }

  // 3. symbols: what it takes from outside, and what it offers
  const symbols = readelf('--dyn-syms')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0]))
    .map(([, , , kind, bind, vis, ndx, name]) => ({ kind, bind, vis, ndx, name }));
  const exported = symbols.filter((s) => s.ndx !== 'UND' && s.bind !== 'LOCAL' && s.vis === 'DEFAULT' && s.kind !== 'SECTION').map((s) => s.name.split('@')[0]);
  const extra = exported.filter((n) => !EXPORTS.includes(n));
  if (!exported.includes('napi_register_module_v1')) problems.push('exports no napi_register_module_v1');
  if (extra.length) problems.push(`exports ${extra.length} symbols besides N-API's: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', …' : ''}`);
  if (libc === 'glibc') {
    // an unversioned undefined symbol is one glibc 2.28 does not have, or a missing definition
    // (N-API's and libuv's come from the node binary itself)
    const loose = symbols.filter((s) => s.ndx === 'UND' && s.name && !s.name.includes('@') && !/^(napi_|node_api_|uv_)/.test(s.name) && s.bind !== 'WEAK');
    if (loose.length) problems.push(`undefined symbols with no version: ${loose.map((s) => s.name).join(', ')}`);
  }

  // 4. the init embedded as bytes (binding.gyp, scripts/embed-binary.js): the second ELF image
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(Buffer.from('\x7fELF', 'latin1'), 4);
  let init = 'missing';
  if (at < 0) problems.push('no embedded init (no second ELF image in the file)');
  else {
    const em = bytes.readUInt16LE(at + 18);
    const eType = bytes.readUInt16LE(at + 16);
    const phoff = Number(bytes.readBigUInt64LE(at + 32));
    const phentsize = bytes.readUInt16LE(at + 54);
    const phnum = bytes.readUInt16LE(at + 56);
    const segments = Array.from({ length: phnum }, (_, i) => bytes.readUInt32LE(at + phoff + i * phentsize));
    const dynamic = segments.includes(2) || segments.includes(3); // PT_DYNAMIC, PT_INTERP
    init = `${em === MACHINES.x64.em ? 'x86-64' : em === MACHINES.arm64.em ? 'aarch64' : `machine ${em}`} ${eType === 2 && !dynamic ? 'static' : 'NOT static'}`;
    if (em !== MACHINES[arch].em) problems.push(`the embedded init is for machine ${em}, not ${MACHINES[arch].em}`);
    if (eType !== 2 || dynamic) problems.push('the embedded init is not a static executable');
  }

  const name = path.join(path.basename(path.dirname(file)), path.basename(file));
  const summary =
    `${name}: ${machine}, ${(bytes.length / 1024).toFixed(0)} KiB, ` +
    `highest GLIBC ${highest ? `GLIBC_${highest}` : 'none'}, GLIBCXX ${cxxVersions.length ? cxxVersions.join(' ') : 'none'}, ` +
    `NEEDED ${needed.join(' ') || 'none'}, exports ${exported.length}, init ${init}`;
  return { summary, problems };
}

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const maxGlibc = (process.argv.find((a) => a.startsWith('--max-glibc=')) || '--max-glibc=2.28').split('=')[1];
if (!files.length) {
  console.error('usage: check-prebuild.js prebuilds/linux-<arch>/nsgroups.<libc>.node... [--max-glibc=2.28]');
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  const { summary, problems } = check(file);
  console.log(summary);
  for (const p of problems) console.log(`  problem: ${p}`);
  if (problems.length) failed++;
}
process.exit(failed ? 1 : 0);
