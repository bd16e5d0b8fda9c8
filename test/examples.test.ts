// examples/ as a user runs them (each requires 'nsgroups', the package by its own name), each
// checked against the kernel after it ran: no cgroup, mount or link of it left behind. They need
// root (a cgroup of their own, host mounts, network namespaces); as another user each says so
// and exits 2.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hierarchiesWith } from './helpers/cgroupfs';
import { itRoot, itRootless } from './helpers/host';

const example = (name: string) => path.join(__dirname, '..', 'examples', name);
function runExample(name: string) {
  return spawnSync(process.execPath, [example(name)], { encoding: 'utf8', timeout: 90_000 });
}
const field = (out: string, label: string) => out.match(new RegExp(`^${label}: (.*)$`, 'm'))?.[1];

itRoot(
  'examples/fork-bomb.js: pids.max holds the bomb; the kernel refused forks; no process or cgroup left',
  () => {
    const r = runExample('fork-bomb.js');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Number(field(r.stdout, 'forks refused by the kernel \\(pids.events max\\)'))).toBeGreaterThan(0);
    const peak = field(r.stdout, 'most processes at once \\(pids.peak\\)');
    if (peak !== 'not reported by this kernel') expect(Number(peak)).toBeLessThanOrEqual(32);
    expect(field(r.stdout, 'processes left in the cgroup')).toBe('0');
    expect(hierarchiesWith(`/nsgroups/example-fork-bomb-${r.pid}`)).toEqual([]);
  },
  90_000,
);

itRoot(
  'examples/oom.js: the OOM killer ends the hog inside its cgroup; reported as memory; no cgroup left',
  () => {
    const r = runExample('oom.js');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(field(r.stdout, 'status')).toBe('memory, signal: SIGKILL, code: null');
    expect(Number(field(r.stdout, 'OOM kills \\(memory.events oom_kill\\)'))).toBeGreaterThanOrEqual(1);
    expect(hierarchiesWith(`/nsgroups/example-oom-${r.pid}`)).toEqual([]);
  },
  90_000,
);

itRoot(
  'examples/overlay-playground.js: changes read back, committed, stacked; nothing left mounted or on disk',
  () => {
    const before = fs.readdirSync('/tmp').filter((f) => f.startsWith('nsgroups-overlay-playground-'));
    const r = runExample('overlay-playground.js');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('changes:\n  A /app\n  A /app/conf\n  C /etc\n  C /etc/hosts\n  D /etc/motd\n');
    expect(field(r.stdout, 'etc/hosts there')).toBe(JSON.stringify('127.0.0.1 localhost\n10.0.0.1 db\n'));
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('nsgroups-overlay-playground-');
    expect(fs.readdirSync('/tmp').filter((f) => f.startsWith('nsgroups-overlay-playground-'))).toEqual(before);
  },
  90_000,
);

itRoot(
  'examples/veth.js: a message across a veth pair between two sandboxes and back; no link left on the host',
  () => {
    const r = runExample('veth.js');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(field(r.stdout, 'client \\(in b\\) got')).toBe('hello back, client at 10.200.0.2');
    // the pair lived in the two namespaces only, and went with them
    expect(fs.readdirSync('/sys/class/net').filter((n) => n === 'veth-a' || n === 'veth-b')).toEqual([]);
  },
  90_000,
);

for (const name of ['fork-bomb.js', 'oom.js', 'overlay-playground.js', 'veth.js']) {
  itRootless(`examples/${name} as another user: says it needs root, exit 2`, () => {
    const r = runExample(name);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${name.replace('.', '\\.')} needs root`));
  });
}
