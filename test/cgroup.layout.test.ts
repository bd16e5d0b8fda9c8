// Layout detection: the pure parser on recorded inputs of every host kind, and this host's own
// layout checked against /proc/self/mountinfo and cgroupfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError } from '../lib/errors';
import { cgroupCapabilities, detectCgroupLayout, parseCgroupLayout, parseProcCgroup } from '../lib/cgroup/index';
import { hierarchyDir, procPathIn } from '../lib/cgroup/layout';

const fixtures = path.join(__dirname, 'fixtures', 'cgroup-layout');
const read = (name: string) => fs.readFileSync(path.join(fixtures, name), 'utf8');
const recorded = (kind: string, controllers = '') => parseCgroupLayout(read(`${kind}.mountinfo`), read(`${kind}.cgroup`), controllers);

describe('parseCgroupLayout on recorded hosts', () => {
  it('hybrid with cpu and cpuacct in separate hierarchies (this build machine)', () => {
    const layout = recorded('hybrid-separate', 'hugetlb\n');
    expect(layout.mode).toBe('hybrid');
    expect(layout.controllers.cpu).toEqual({ version: 1, mountPoint: '/sys/fs/cgroup/cpu', coMounted: [] });
    expect(layout.controllers.cpuacct).toEqual({ version: 1, mountPoint: '/sys/fs/cgroup/cpuacct', coMounted: [] });
    expect(layout.controllers.memory.mountPoint).toBe('/sys/fs/cgroup/memory');
    // a controller on no v1 hierarchy but offered by the cgroup2 tree is a v2 one
    expect(layout.controllers.hugetlb).toEqual({ version: 2, mountPoint: '/sys/fs/cgroup/unified', coMounted: [] });
    expect(layout.unified).toMatchObject({ version: 2, mountPoint: '/sys/fs/cgroup/unified', controllers: ['hugetlb'] });
    expect(layout.named.map((h) => h.name)).toEqual(['systemd']);
    expect(layout.v1.map((h) => h.controllers.join(',')).sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids'].sort());
    const memory = layout.v1.find((h) => h.controllers.includes('memory'))!;
    expect(memory.id).toBe(4);
    const self = parseProcCgroup(read('hybrid-separate.cgroup'));
    expect(procPathIn(memory, self)).toBe('/job.slice/worker');
    expect(hierarchyDir(memory, '/job.slice/worker')).toBe('/sys/fs/cgroup/memory/job.slice/worker');
    expect(procPathIn(layout.unified!, self)).toBe('/');
  });

  it('legacy v1 with co-mounted cpu,cpuacct and net_cls,net_prio', () => {
    const layout = recorded('legacy-comounted');
    expect(layout.mode).toBe('v1');
    expect(layout.unified).toBeNull();
    expect(layout.controllers.cpu).toEqual({ version: 1, mountPoint: '/sys/fs/cgroup/cpu,cpuacct', coMounted: ['cpuacct'] });
    expect(layout.controllers.cpuacct).toEqual({ version: 1, mountPoint: '/sys/fs/cgroup/cpu,cpuacct', coMounted: ['cpu'] });
    expect(layout.controllers.net_prio.coMounted).toEqual(['net_cls']);
    // mount options that are not controllers stay out (clone_children, xattr, release_agent=, name=)
    expect(layout.controllers.cpuset.coMounted).toEqual([]);
    expect(Object.keys(layout.controllers)).not.toContain('clone_children');
    expect(Object.keys(layout.controllers)).not.toContain('xattr');
    expect(layout.named).toHaveLength(1);
    expect(layout.named[0]).toMatchObject({ name: 'systemd', id: 1, controllers: [] });
    const cpu = layout.v1.find((h) => h.controllers.includes('cpu'))!;
    expect(cpu.id).toBe(4);
    expect(procPathIn(cpu, parseProcCgroup(read('legacy-comounted.cgroup')))).toBe('/user.slice');
  });

  it('systemd hybrid: cgroup2 at /sys/fs/cgroup/unified beside v1 controllers', () => {
    const layout = recorded('hybrid-systemd');
    expect(layout.mode).toBe('hybrid');
    expect(layout.unified?.mountPoint).toBe('/sys/fs/cgroup/unified');
    expect(layout.controllers.rdma.version).toBe(1);
    expect(procPathIn(layout.unified!, parseProcCgroup(read('hybrid-systemd.cgroup')))).toBe(
      '/user.slice/user-1000.slice/user@1000.service/app.slice/term.scope',
    );
  });

  it('unified (pure v2): every controller from cgroup.controllers is v2', () => {
    const layout = recorded('unified', read('unified.controllers'));
    expect(layout.mode).toBe('v2');
    expect(layout.v1).toEqual([]);
    expect(layout.unified).toMatchObject({ mountPoint: '/sys/fs/cgroup', mountRoot: '/' });
    for (const c of ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']) {
      expect(layout.controllers[c]).toEqual({ version: 2, mountPoint: '/sys/fs/cgroup', coMounted: [] });
    }
    expect(hierarchyDir(layout.unified!, '/user.slice/x.scope')).toBe('/sys/fs/cgroup/user.slice/x.scope');
  });

  it('a container whose hierarchies are mounted from /docker/<id>, one of them twice', () => {
    const layout = recorded('docker-v1');
    expect(layout.mode).toBe('v1');
    const memory = layout.v1.filter((h) => h.controllers.includes('memory'));
    expect(memory).toHaveLength(1); // the second mount of device 0:32 is the same hierarchy
    expect(memory[0]).toMatchObject({ mountPoint: '/sys/fs/cgroup/memory', mountRoot: '/docker/4f1c2a', id: 8 });
    expect(hierarchyDir(memory[0], '/docker/4f1c2a')).toBe('/sys/fs/cgroup/memory');
    expect(hierarchyDir(memory[0], '/docker/4f1c2a/job')).toBe('/sys/fs/cgroup/memory/job');
    expect(hierarchyDir(memory[0], '/other')).toBeNull(); // not visible through this mount
  });

  it('unescapes mount points (mountinfo writes a space as \\040)', () => {
    const layout = parseCgroupLayout('30 25 0:99 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n', '0::/\n');
    expect(layout.unified?.mountPoint).toBe('/mnt/my cgroups');
  });

  it('a host without any cgroup filesystem is ERR_UNSUPPORTED', () => {
    expect(() => parseCgroupLayout('23 29 0:21 / /proc rw - proc proc rw\n', '0::/\n')).toThrow(NsgroupsError);
    try {
      parseCgroupLayout('', '');
    } catch (err) {
      expect((err as NsgroupsError).code).toBe('ERR_UNSUPPORTED');
    }
  });
});

describe('detectCgroupLayout on this host', () => {
  it('reports every cgroup mount of /proc/self/mountinfo with its version', async () => {
    const layout = await detectCgroupLayout();
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => / - cgroup2? /.test(l))
      .map((l) => ({ mountPoint: l.split(' ')[4], type: l.split(' - ')[1].split(' ')[0], opts: l.split(' - ')[1].split(' ')[2] }));
    const v1Mounts = mounts.filter((m) => m.type === 'cgroup' && !m.opts.split(',').some((o) => o.startsWith('name=')));
    const v2Mount = mounts.find((m) => m.type === 'cgroup2');
    expect(layout.mode).toBe(v1Mounts.length === 0 ? 'v2' : v2Mount ? 'hybrid' : 'v1');
    for (const m of v1Mounts) {
      for (const c of m.opts.split(',').filter((o) => o !== 'rw' && o !== 'ro')) {
        expect(layout.controllers[c]).toMatchObject({ version: 1, mountPoint: m.mountPoint });
      }
    }
    if (v2Mount) {
      expect(layout.unified?.mountPoint).toBe(v2Mount.mountPoint);
      const offered = fs.readFileSync(path.join(v2Mount.mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
      expect(layout.unified?.controllers.sort()).toEqual(offered.sort());
    }
    // where this process is, per /proc/self/cgroup, resolves to an existing directory
    const self = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
    for (const h of [...layout.v1, ...(layout.unified ? [layout.unified] : [])]) {
      const p = procPathIn(h, self);
      expect(p).not.toBeNull();
      expect(fs.existsSync(hierarchyDir(h, p!)!)).toBe(true);
    }
  });
});

describe('cgroupCapabilities() on this host', () => {
  it('reports the mode, where cgroups would go, and the cgroup2 core files a real cgroup has', async () => {
    const caps = await cgroupCapabilities();
    const layout = await detectCgroupLayout();
    expect(caps.mode).toBe(layout.mode);
    expect(caps.unified).toBe(layout.unified?.mountPoint ?? null);
    for (const b of caps.base) {
      const top = (() => {
        try {
          fs.accessSync(path.join(b.hierarchy, 'cgroup.procs'), fs.constants.W_OK);
          return true;
        } catch {
          return false;
        }
      })();
      if (top) expect(b).toMatchObject({ path: path.join(b.hierarchy, 'nsgroups'), source: 'root' });
      else if (b.path === null) expect(b.source).toBeNull();
    }
    if (process.geteuid!() === 0 && caps.unified) {
      // the oracle: a cgroup of our own in the cgroup2 tree, and the files it has
      const probe = path.join(caps.unified, `nsgroups-test-caps-${process.pid}`);
      fs.mkdirSync(probe);
      try {
        const files = fs.readdirSync(probe);
        expect(caps.kill.supported).toBe(files.includes('cgroup.kill'));
        expect(caps.psi.supported).toBe(files.includes('cpu.pressure'));
        if (layout.controllers.freezer?.version !== 1) expect(caps.freeze.supported).toBe(files.includes('cgroup.freeze'));
      } finally {
        fs.rmdirSync(probe);
      }
    }
    if (layout.controllers.freezer?.version === 1) expect(caps.freeze).toMatchObject({ supported: true, reason: expect.stringMatching(/freezer/) });
  });
});
