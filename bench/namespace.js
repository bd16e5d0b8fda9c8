#!/usr/bin/env node
'use strict';
// Namespace operations side by side with the util-linux / iproute2 tools that do the same, on
// this host: medians of N runs and the ratio. Needs root (pins, netlink) and `npm run build`.
//   node bench/namespace.js [runs]
// The tools pay a fork+exec each; that is the point of comparison (what a Node program would
// otherwise do), so both columns include their full cost as seen from Node.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Namespace, NetworkLinks } = require('../dist/index.cjs');

const runs = Number(process.argv[2] || 30);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-bench-'));
fs.mkdirSync('/run/netns', { recursive: true });
const name = `nsgroups-bench-${process.pid}`;

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(fn) {
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(out);
}

function row(label, ours, theirs, tool) {
  console.log(
    `${label.padEnd(50)} nsgroups ${ours.toFixed(3).padStart(8)} ms   ${tool.padEnd(22)} ${theirs.toFixed(3).padStart(8)} ms   ratio ${(ours / theirs).toFixed(2)}`,
  );
}

(async () => {
  console.log(`${runs} runs each, medians (${os.cpus().length} CPUs, ${os.release()})`);
  row(
    'new pinned net namespace, then unpin',
    await time(async () => {
      await Namespace.create('net', { pin: `/run/netns/${name}`, network: 'none' });
      await Namespace.unpin(`/run/netns/${name}`);
    }),
    await time(() => {
      execFileSync('ip', ['netns', 'add', name]);
      execFileSync('ip', ['netns', 'del', name]);
    }),
    'ip netns add + del',
  );

  const ns = await Namespace.create('net', { pin: `/run/netns/${name}` });
  const links = new NetworkLinks(ns);
  row(
    'veth pair in a netns: create, address, up, delete',
    await time(async () => {
      await links.addVeth('b0', { peer: 'b1' });
      await links.addAddress('b0', '10.200.9.1/30');
      await links.up('b0');
      await links.delete('b0');
    }),
    await time(() => {
      execFileSync('ip', ['-n', name, 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1']);
      execFileSync('ip', ['-n', name, 'addr', 'add', '10.200.9.1/30', 'dev', 'b0']);
      execFileSync('ip', ['-n', name, 'link', 'set', 'b0', 'up']);
      execFileSync('ip', ['-n', name, 'link', 'del', 'b0']);
    }),
    'ip -n (4 commands)',
  );
  row(
    'list the links of a netns',
    await time(() => links.list()),
    await time(() => execFileSync('ip', ['-n', name, '-j', 'link', 'show'])),
    'ip -n -j link show',
  );
  await Namespace.unpin(`/run/netns/${name}`);

  row('list every namespace on the host', await time(() => Namespace.list()), await time(() => execFileSync('lsns', ['-J'])), 'lsns -J');
  row(
    'identity of one namespace of a pid',
    await time(() => Namespace.of(process.pid, 'net')),
    await time(() => execFileSync('readlink', [`/proc/${process.pid}/ns/net`])),
    'readlink(1)',
  );
  fs.rmSync(dir, { recursive: true, force: true });
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
