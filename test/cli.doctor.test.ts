// `nsgroups doctor`: one line per feature, a summary, --check's exit status, and a report (not a
// crash) when the addon is missing. The kernel and the files it reads are the oracle.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliPath, nsgroups } from './helpers/cli';
import { isRoot } from './helpers/host';
import { CHECKS } from '../lib/cli/doctor';

const SUMMARY = /^(?:all (\d+) (?:checked )?features available|(\d+) of (\d+) (?:checked )?features available; missing: ([\w, -]+))$/;

function missingOf(stdout: string): string[] {
  const last = stdout.trim().split('\n').at(-1)!;
  const m = SUMMARY.exec(last);
  if (!m) throw new Error(`no summary line at the end: ${last}`);
  return m[4] ? m[4].split(', ') : [];
}

describe('nsgroups doctor', () => {
  let report: { status: number | null; signal: string | null; stdout: string; stderr: string };
  beforeAll(() => {
    report = nsgroups('doctor');
  });

  it('prints what this host supports, probed, and exits 0 whatever is missing', () => {
    expect({ status: report.status, signal: report.signal, stderr: report.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(report.stdout).toMatch(/^kernel \d+\.\d+\S*, node v\d+/);
    // this host (Debian 12, kernel 6.18) has all of these
    for (const feature of ['native addon', 'clone3', 'pidfd', 'time namespaces', 'overlayfs inside a user namespace', 'cgroup.kill', 'freeze']) {
      expect(report.stdout).toMatch(new RegExp(`^  yes  ${feature}`, 'm'));
    }
    expect(report.stdout).toMatch(/^ {2}yes {2}for this caller \(probed\)/m);
    expect(report.stdout).toMatch(/^cgroups: hybrid \(cgroup2 at \/sys\/fs\/cgroup\/unified\)$/m);
  });

  it('the cgroup base is one line, however many hierarchies share it', () => {
    expect(report.stdout.match(/^ {2}(?:yes {2}|NO {3})a base for new cgroups/gm)).toHaveLength(1);
    if (isRoot) expect(report.stdout).toMatch(/yes {2}a base for new cgroups {2}\(\/nsgroups in each of the 8 hierarchies, as root\)/);
    else expect(report.stdout).toMatch(/NO {3}a base for new cgroups\n\s+why: none writable by uid \d+[^]*fix: cgroups are not delegated/);
  });

  it('CLONE_INTO_CGROUP: the real reason, not a kernel version', () => {
    if (isRoot) expect(report.stdout).toMatch(/yes {2}born in the cgroup \(CLONE_INTO_CGROUP\)/);
    else {
      const block = /NO {3}born in the cgroup \(CLONE_INTO_CGROUP\)\n(\s+why: .*\n\s+fix: .*)/.exec(report.stdout)?.[1];
      expect(block).toMatch(/not tried: no cgroup of ours to try it in \(this caller has no writable cgroup base\)/);
      expect(block).not.toMatch(/5\.7/);
    }
  });

  it('limits, checked against the files the kernel offers', () => {
    const has = (re: RegExp): boolean => re.test(report.stdout);
    if (!isRoot) {
      // no cgroup to try them on: one line for all of them, and every one counted as missing
      expect(report.stdout).toMatch(/NO {3}any limit \(memory, memory-high, memory-low, swap, cpu, cpu-weight, pids, io-weight, io-max, cpuset\)/);
      expect(missingOf(report.stdout)).toEqual(expect.arrayContaining(['memory', 'swap', 'io-weight', 'pids']));
      return;
    }
    // BFQ: v1 io.weight is blkio.bfq.weight (or CFQ's blkio.weight), present only with that scheduler
    const bfq = ['blkio.bfq.weight', 'blkio.weight'].some((f) => fs.existsSync(`/sys/fs/cgroup/blkio/${f}`));
    expect(has(/^ {2}yes {2}io\.weight/m)).toBe(bfq);
    if (!bfq) expect(report.stdout).toMatch(/NO {3}io\.weight[^\n]*\n\s+why: io.weight needs blkio.bfq.weight[^\n]*\n\s+fix: [^\n]*modprobe bfq/);
    // swap accounting: memory.memsw.* on v1
    expect(has(/^ {2}yes {2}memory\.swapMax/m)).toBe(fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'));
    // v1 memory has no memory.high / memory.low
    expect(has(/^ {2}NO {3}memory\.high/m)).toBe(true);
    expect(has(/^ {2}yes {2}memory\.max/m) && has(/^ {2}yes {2}pids\.max/m) && has(/^ {2}yes {2}cpu\.max/m)).toBe(true);
  });

  it('newuidmap/newgidmap and /etc/subuid, /etc/subgid for this user', () => {
    if (isRoot) {
      expect(report.stdout).toMatch(/yes {2}newuidmap and newgidmap \(id ranges without root\) {2}\(not needed as root\)/);
      return;
    }
    const setuid = ['newuidmap', 'newgidmap'].every((t) => {
      const st = fs.statSync(`/usr/bin/${t}`, { throwIfNoEntry: false });
      return st !== undefined && (st.mode & 0o4000) !== 0 && st.uid === 0;
    });
    expect(/yes {2}newuidmap and newgidmap/.test(report.stdout)).toBe(setuid);
    const user = os.userInfo().username;
    const granted = ['/etc/subuid', '/etc/subgid'].every((f) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .some((l) => l.split(':')[0] === user),
    );
    expect(/yes {2}ranges in \/etc\/subuid and \/etc\/subgid/.test(report.stdout)).toBe(granted);
  });

  it('ends with a summary line that names what is missing, as --check takes it', () => {
    const noLines = report.stdout.split('\n').filter((l) => l.startsWith('  NO ')).length;
    const missing = missingOf(report.stdout);
    // the limits may share one line when none can be tried
    expect(missing.length).toBeGreaterThanOrEqual(noLines);
    const [, all, ok, total] = SUMMARY.exec(report.stdout.trim().split('\n').at(-1)!)!;
    expect(Number(all ?? total)).toBe(CHECKS.length);
    if (ok) expect(Number(ok) + missing.length).toBe(CHECKS.length);
  });

  it('--check: exit 1 when a checked feature is missing, 0 when all are there', () => {
    const missing = missingOf(report.stdout);
    const all = nsgroups('doctor', '--check');
    expect(all.status).toBe(missing.length ? 1 : 0);
    const present = nsgroups('doctor', '--check', 'clone3', 'pidfd', 'userns');
    expect({ status: present.status, last: present.stdout.trim().split('\n').at(-1) }).toEqual({ status: 0, last: 'all 3 checked features available' });
    // only the checked features are printed
    expect(present.stdout).not.toMatch(/overlayfs|cgroups:/);
    if (missing.length) {
      const absent = nsgroups('doctor', '--check', missing[0], 'clone3');
      expect({ status: absent.status, last: absent.stdout.trim().split('\n').at(-1) }).toEqual({
        status: 1,
        last: `1 of 2 checked features available; missing: ${missing[0]}`,
      });
    }
  });

  it('--json is capabilities() itself, with the limits and id-mapping helpers', () => {
    const r = nsgroups('doctor', '--json');
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const c = JSON.parse(r.stdout);
    expect(c.kernel.release).toBe(os.release());
    expect(c.userNamespaces.caller.supported).toBe(true);
    expect(typeof c.userNamespaces.sysctls.maxUserNamespaces).toBe('number');
    expect(isRoot || c.userNamespaces.unprivileged.supported).toBe(true);
    expect(c.addon).toMatchObject({ supported: true, reason: expect.stringMatching(/\.node \(linux-x64, glibc\)$/) });
    expect(Object.keys(c.limits).sort()).toEqual([
      'cpu.max',
      'cpu.weight',
      'cpuset',
      'io.max',
      'io.weight',
      'memory.high',
      'memory.low',
      'memory.max',
      'memory.swapMax',
      'pids.max',
    ]);
    expect(Object.keys(c.idMapping).sort()).toEqual(['newgidmap', 'newuidmap', 'subgid', 'subuid']);
  });
});

describe('nsgroups doctor without the native addon', () => {
  // the bundle alone, beside no build/ and no prebuilds/: the addon cannot load
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-noaddon-'));
    // the whole dist (the CLI requires the library's chunks), and nothing else of the build
    fs.cpSync(path.dirname(cliPath), path.join(dir, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(__dirname, '..', 'package.json'), path.join(dir, 'package.json'));
    fs.symlinkSync(path.join(__dirname, '..', 'node_modules'), path.join(dir, 'node_modules'));
    fs.chmodSync(dir, 0o755);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cli = (...args: string[]) =>
    require('node:child_process').spawnSync(process.execPath, [path.join(dir, 'dist', 'cli.cjs'), ...args], { encoding: 'utf8' });

  it('reports it (exit 0), with the fix, and still checks what needs no addon', () => {
    const r = cli('doctor');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(
      /NO {3}native addon\n\s+why: the nsgroups native addon is not available for linux-x64 with glibc[^\n]*\n\s+fix: npm install-scripts approve nsgroups/,
    );
    expect(r.stdout).toMatch(/NO {3}overlayfs {2}\(not probed: the native addon did not load\)/);
    expect(r.stdout).toMatch(/^cgroups: hybrid/m);
    expect(missingOf(r.stdout)).toEqual(expect.arrayContaining(['addon', 'clone3', 'overlay']));
  });

  it('--check addon exits 1; run says why and exits 125', () => {
    expect(cli('doctor', '--check', 'addon').status).toBe(1);
    const run = cli('run', 'true');
    expect(run.status).toBe(125);
    expect(run.stderr).toMatch(/^nsgroups run: the nsgroups native addon is not available for linux-x64 with glibc/);
  });
});
