// A plain user on a pure cgroup v2 host without systemd (the v2 lane's guest: busybox as init), with
// the root step docs/rootless.md gives for such a host: a subtree made and chowned to the user.
// Run from inside the subtree, the user's children are born in its cgroups; run from outside it
// (NSGROUPS_CGROUP_ROOT), the spawn fails with ERR_PERMISSION naming the v2 delegation rule, never a
// bare clone3 EACCES.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostMode } from '../helpers/cgroupfs';
import { isRoot, itIf } from '../helpers/host';

const UID = 61001;
const TOP = '/sys/fs/cgroup';
const subtree = `nsgroups-user-${process.pid}`;
const fixture = path.join(__dirname, '..', 'fixtures', 'cgroup-in-subtree.js');
const onV2Root = hostMode === 'v2' && isRoot;
const itV2 = (name: string, fn: () => void): void => itIf(onV2Root, 'needs a pure cgroup v2 host, as root (the v2 lane guest)', name, fn);

function runAsUser(shellPrefix: string, env: Record<string, string>): Record<string, unknown> {
  // root puts the shell where the docs say (or leaves it), then becomes the user and runs the fixture
  const r = spawnSync('sh', ['-c', `${shellPrefix} exec setpriv --reuid=${UID} --regid=${UID} --clear-groups "$0" "$1"`, process.execPath, fixture], {
    env: { PATH: process.env.PATH!, ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  const last = r.stdout.trim().split('\n').pop();
  if (!last) throw new Error(`the fixture printed nothing (status ${r.status}): ${r.stderr}`);
  return JSON.parse(last);
}

beforeAll(() => {
  if (!onV2Root) return;
  // docs/rootless.md, "a cgroup v2 host without systemd": the subtree and its delegated files
  const dir = path.join(TOP, subtree);
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(dir, 'shell'));
  for (const d of [dir, path.join(dir, 'shell')]) {
    for (const f of ['', 'cgroup.procs', 'cgroup.subtree_control', 'cgroup.threads']) fs.chownSync(path.join(d, f), UID, UID);
  }
});

afterAll(() => {
  if (!onV2Root) return;
  const dir = path.join(TOP, subtree);
  const rm = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rm(path.join(d, e.name));
    fs.rmdirSync(d);
  };
  if (fs.existsSync(dir)) rm(dir);
});

itV2('from inside the subtree: the base is found, and children are born in their cgroup', () => {
  const out = runAsUser(`echo $$ > ${TOP}/${subtree}/shell/cgroup.procs &&`, {});
  expect(out.fatal).toBeUndefined();
  expect(out.error).toBeUndefined();
  expect(out).toMatchObject({ driver: 'cgroupfs', path: `${TOP}/${subtree}/nsgroups/t`, code: 0 });
  expect(out.cgroup).toBe(`0::/${subtree}/nsgroups/t\n`);
});

itV2('from outside it: spawn fails with ERR_PERMISSION naming the rule and the fix', () => {
  const out = runAsUser('', { NSGROUPS_CGROUP_ROOT: `/${subtree}` });
  expect(out.driver).toBe('cgroupfs');
  expect(out.error).toMatchObject({ code: 'ERR_PERMISSION', errno: -13, syscall: 'clone3', path: `${TOP}/cgroup.procs` });
  const { message } = out.error as { message: string };
  expect(message).toContain('common ancestor');
  expect(message).toContain('Delegation Containment');
});
