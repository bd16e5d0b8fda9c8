#!/usr/bin/env node
'use strict';
// What the default seccomp profile costs on this host, side by side in one run (medians):
//   - building it in the parent (resolveSeccomp + compileSeccomp);
//   - installing it: the fixture seccomp-exec running /bin/true with no filter (no_new_privs
//     only), a 1-instruction filter, the default profile, and the same profile compiled as one
//     linear chain of jeq, interleaved so that all see the same machine: the CPU time of the
//     prctl + seccomp calls themselves (measured in the fixture), and the wall time of the spawn;
//   - one system call under each (CPU time per call, which a busy machine disturbs least):
//     allowed and answered from the kernel's action cache (getppid), allowed after the program
//     ran its argument check (ioctl FIONREAD), refused (finit_module, and quotactl_fd, the last
//     test of the linear chain).
//   node bench/seccomp.js [runs]     (default 1000; needs cc with static glibc, and esbuild)
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const runs = Number(process.argv[2] || 1000);
const root = path.join(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-bench-seccomp-'));

// lib/seccomp straight from the TypeScript sources (it is not part of dist/ until spawn uses it)
const bundle = path.join(dir, 'seccomp.js');
require('esbuild').buildSync({
  stdin: {
    contents: `export * from './lib/seccomp'; export * as bpf from './lib/seccomp/bpf'; export { ruleBody } from './lib/seccomp/compile'; export { syscallNumber, AUDIT_ARCH } from './lib/seccomp/arch';`,
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  outfile: bundle,
  logLevel: 'warning',
});
const { resolveSeccomp, compileSeccomp, hostSeccompArch, bpf, ruleBody, syscallNumber, AUDIT_ARCH } = require(bundle);

// The same profile as one linear chain of jeq (the shape the binary search replaces), for comparison.
function linear(profile, arch) {
  const refuse = bpf.ret(bpf.SECCOMP_RET_ERRNO | profile.errno);
  const out = [bpf.ldAbs(bpf.OFFSET_ARCH), bpf.jeq(AUDIT_ARCH[arch], 1, 0), bpf.ret(bpf.SECCOMP_RET_KILL_PROCESS), bpf.ldAbs(bpf.OFFSET_NR)];
  if (arch === 'x86_64') out.push(bpf.jset(0x40000000, 0, 1), bpf.ret(bpf.SECCOMP_RET_KILL_PROCESS));
  const entries = Object.entries(profile.rules)
    .map(([n, rule]) => ({ nr: syscallNumber(n, arch), rule }))
    .filter((e) => e.nr !== undefined)
    .sort((a, b) => a.nr - b.nr);
  for (const e of entries) {
    const body = ruleBody(e.rule, refuse);
    out.push(bpf.jeq(e.nr, 0, body.length), ...body);
  }
  out.push(bpf.ret(bpf.SECCOMP_RET_ALLOW));
  return bpf.encode(out);
}

const cc = (src, out) => {
  const file = path.join(dir, out);
  execFileSync('cc', ['-static', '-O2', '-o', file, path.join(root, 'test/fixtures', src)]);
  return file;
};
const exec = cc('seccomp-exec.c', 'seccomp-exec');
const probe = cc('syscall-probe.c', 'syscall-probe');

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

const arch = hostSeccompArch();
const { filter, flags } = compileSeccomp(resolveSeccomp('default'), arch);
const filterFile = path.join(dir, 'default.bpf');
fs.writeFileSync(filterFile, filter);
const linearFilter = linear(resolveSeccomp('default'), arch);
const linearFile = path.join(dir, 'linear.bpf');
fs.writeFileSync(linearFile, linearFilter);
const oneFile = path.join(dir, 'allow.bpf');
fs.writeFileSync(oneFile, bpf.encode([bpf.ret(bpf.SECCOMP_RET_ALLOW)]));

console.log(`${runs} runs, medians (${os.cpus().length} CPUs, Linux ${os.release()}, ${arch})`);
console.log(`default filter: ${filter.length / 8} instructions, flags ${flags}`);

const build = [];
for (let i = 0; i < runs; i++) {
  const t = process.hrtime.bigint();
  compileSeccomp(resolveSeccomp('default'), arch);
  build.push(ms(t));
}
console.log(`build (resolveSeccomp + compileSeccomp)      ${(median(build) * 1000).toFixed(1).padStart(8)} µs`);

// one run of each variant per round, in a rotating order
const variants = [
  ['no filter (no_new_privs only)', '-', 0],
  ['ret ALLOW (1 instruction)', oneFile, 0],
  [`default profile (${filter.length / 8} instructions)`, filterFile, flags],
  [`same profile, linear jeq chain (${linearFilter.length / 8})`, linearFile, 0],
].map(([label, file, f]) => ({ label, args: [file, String(f)], wall: [], install: [] }));
const env = { ...process.env, SECCOMP_EXEC_TIMING: '1' };
for (let i = 0; i < runs; i++) {
  for (let j = 0; j < variants.length; j++) {
    const v = variants[(i + j) % variants.length];
    const t = process.hrtime.bigint();
    const r = spawnSync(exec, [...v.args, '/bin/true'], { env, encoding: 'utf8' });
    v.wall.push(ms(t));
    if (r.status !== 0) throw new Error(`seccomp-exec failed: ${r.stderr}`);
    v.install.push(Number(/installed in (\d+) ns/.exec(r.stderr)[1]) / 1000);
  }
}
console.log(`${''.padEnd(44)} prctl+seccomp (CPU)   spawn+exec /bin/true from Node (wall)`);
for (const v of variants) console.log(`${v.label.padEnd(44)} ${median(v.install).toFixed(1).padStart(15)} µs   ${median(v.wall).toFixed(3).padStart(15)} ms`);
console.log('per call (CPU time, best of 20 rounds, median of 7 runs):');

const calls = 200000;
const perCall = (name, file) => {
  const xs = [];
  for (let i = 0; i < 7; i++) {
    const r = spawnSync(exec, [file, '0', probe, '--time', String(calls), name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
    xs.push(Number(r.stdout.trim().split(' ')[1]));
  }
  return median(xs);
};
for (const [name, what] of [
  ['getppid', 'allowed, from the action cache'],
  ['ioctl-fionread-kept', 'allowed after the argument check'],
  ['finit_module', 'refused (EPERM; EBADF without)'],
  ['quotactl_fd', 'refused, the last of the linear chain'],
]) {
  const off = perCall(name, '-');
  const on = perCall(name, filterFile);
  const lin = perCall(name, linearFile);
  console.log(
    `${`${name}: ${what}`.padEnd(52)} no filter ${off.toFixed(0).padStart(6)} ns   default ${on.toFixed(0).padStart(6)} ns (+${(on - off).toFixed(0)})   linear ${lin.toFixed(0).padStart(6)} ns (+${(lin - off).toFixed(0)})`,
  );
}

fs.rmSync(dir, { recursive: true, force: true });
