// Least privilege by default, tried from inside as a hostile command would: capabilities in any
// set, writes to /proc/sys and masked kernel files, remounting read-only mounts read-write,
// unmounting /proc to find the host's, raising its own cgroup limits, the caller's session
// keyring, the system calls the filter refuses, ptrace of the init. Each test fails only when
// the breach works. The kernel is the oracle: /proc/PID/status from outside, what the kernel
// answered inside, cgroupfs and the host's files afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cgroup, OverlayMount, spawn, type SpawnOptions } from '../lib';
import { busyboxAvailable, makeBusyboxLayer } from './helpers/busybox';
import { isRoot, itIf, itRoot } from './helpers/host';
import { initOf } from './helpers/sandbox';
import { closePools, makers } from './helpers/makers';
import { cliPath } from './helpers/cli';

const hasBusybox = busyboxAvailable();
let scratch: string;
let probe: string; // test/fixtures/syscall-probe.c, static
let keyring: string; // test/fixtures/keyring.c, static
let layer: string;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-privs-${process.pid}-`));
  fs.chmodSync(scratch, 0o755);
  probe = path.join(scratch, 'syscall-probe');
  keyring = path.join(scratch, 'keyring');
  execFileSync('cc', ['-static', '-O2', '-o', probe, path.join(__dirname, 'fixtures/syscall-probe.c')]);
  execFileSync('cc', ['-static', '-O2', '-o', keyring, path.join(__dirname, 'fixtures/keyring.c')]);
  if (hasBusybox) layer = makeBusyboxLayer(path.join(scratch, 'busybox'));
});
afterAll(() => {
  for (const d of fs.readdirSync(scratch)) if (d.startsWith('ovl')) execFileSync('chmod', ['-R', 'u+rwx', path.join(scratch, d)]);
  fs.rmSync(scratch, { recursive: true, force: true });
});

const ZERO = '0000000000000000';
function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Cap\w+|NoNewPrivs|Seccomp):\s*(\S+)/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
const LEAST = { CapInh: ZERO, CapPrm: ZERO, CapEff: ZERO, CapBnd: ZERO, CapAmb: ZERO, NoNewPrivs: '1', Seccomp: '2' };

/** Every way a sandbox is made, as this lane can make it. */
function variants(): Array<[string, () => Promise<SpawnOptions>, boolean]> {
  const list: Array<[string, () => Promise<SpawnOptions>, boolean]> = [
    ['user, pid, mount, net', async () => ({ namespaces: ['user', 'pid', 'mount', 'net'] }), true],
    ['a user namespace only', async () => ({ namespaces: ['user'] }), false],
  ];
  if (isRoot) {
    list.push(['root without a user namespace: pid, mount', async () => ({ namespaces: ['pid', 'mount'] }), true]);
    list.push(['root without any namespace but net', async () => ({ namespaces: ['net'] }), false]);
    list.push([
      'root inside mapped to 100000',
      async () => ({
        namespaces: ['user', 'pid'],
        uidMap: [{ inside: 0, outside: 100000, count: 65536 }],
        gidMap: [{ inside: 0, outside: 100000, count: 65536 }],
      }),
      true,
    ]);
  }
  if (hasBusybox) {
    list.push([
      'an overlay rootfs',
      async () => {
        const base = fs.mkdtempSync(path.join(scratch, 'ovl-'));
        for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d));
        return {
          namespaces: ['user', 'pid'],
          rootfs: new OverlayMount({ lower: [layer], upper: `${base}/upper`, work: `${base}/work`, target: `${base}/merged` }),
          env: { PATH: '/bin' },
        };
      },
      true,
    ]);
  }
  return list;
}

describe.each(makers)('no capability in any set, no_new_privs, the seccomp filter, made by %s: the command and the init', (_maker, maker) => {
  for (const [name, make, hasInit] of variants()) {
    it(name, async () => {
      const options = await make();
      const p = await maker.spawn('sleep', ['1000'], { ...options, stdio: 'ignore' });
      await once(p, 'spawn');
      try {
        expect(status(p.pid!)).toEqual(LEAST);
        if (hasInit) expect(status(initOf(p.pid!))).toEqual(LEAST);
      } finally {
        p.kill('SIGKILL');
        await p.exited;
      }
    });
  }
});

describe('no capability in any set, no_new_privs, the seccomp filter: other ways in', () => {
  it('a joined sandbox (user and pid namespaces of another one)', async () => {
    const holder = spawn('sleep', ['1000'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
    await once(holder, 'spawn');
    try {
      const p = spawn('sleep', ['1000'], { join: [`/proc/${holder.pid}/ns/user`, `/proc/${holder.pid}/ns/pid`], stdio: 'ignore' });
      await once(p, 'spawn');
      expect(status(p.pid!)).toEqual(LEAST);
      p.kill('SIGKILL');
      await p.exited;
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
    }
  });

  itRoot('in a cgroup', async () => {
    const cg = await Cgroup.create(`nsgroups-privs-${process.pid}`, { pids: { max: 32 } });
    try {
      const p = spawn('sleep', ['1000'], { namespaces: ['user', 'pid'], cgroup: cg, stdio: 'ignore' });
      await once(p, 'spawn');
      expect(status(p.pid!)).toEqual(LEAST);
      p.kill('SIGKILL');
      await p.exited;
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it('the CLI (nsgroups run)', () => {
    const r = spawnSync(process.execPath, [cliPath, 'run', '--', 'grep', '-E', '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):', '/proc/self/status'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    const seen = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/:\s*/)),
    );
    expect(seen).toEqual(LEAST);
  });

  it("without a sandbox, spawn stays child_process's: the caller's capabilities, no filter", async () => {
    const p = spawn('sleep', ['1000'], { stdio: 'ignore' });
    await once(p, 'spawn');
    const mine = status(process.pid);
    expect(status(p.pid!)).toMatchObject({ CapBnd: mine.CapBnd, Seccomp: mine.Seccomp, NoNewPrivs: mine.NoNewPrivs });
    p.kill('SIGKILL');
    await p.exited;
  });
});

describe.each(makers)('what the command may keep, when asked, in a sandbox made by %s', (_maker, maker) => {
  it("capabilities: ['CAP_NET_BIND_SERVICE'] keeps exactly that one, in every set but the bounding set's others", async () => {
    const p = await maker.spawn('sleep', ['1000'], { namespaces: ['user', 'net'], capabilities: ['CAP_NET_BIND_SERVICE'], stdio: 'ignore' });
    await once(p, 'spawn');
    const bit = (1n << 10n).toString(16).padStart(16, '0');
    expect(status(p.pid!)).toEqual({ ...LEAST, CapInh: bit, CapPrm: bit, CapEff: bit, CapBnd: bit, CapAmb: bit });
    p.kill('SIGKILL');
    await p.exited;
  });

  it('the kept capability works and the others do not: port 80 binds, a raw socket is refused', async () => {
    const script =
      'python3 -c "import socket; s=socket.socket(); s.bind((\'127.0.0.1\', 80)); print(\'bound\')"; python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)" 2>&1 | tail -1';
    const kept = await maker.run('sh', ['-c', script], { namespaces: ['user', 'net'], capabilities: ['CAP_NET_BIND_SERVICE'] });
    expect(kept.stdout).toMatch(/^bound\n.*PermissionError/);
    const none = await maker.run('sh', ['-c', script], { namespaces: ['user', 'net'] });
    expect(none.stdout).not.toMatch(/bound/);
  });

  itRoot('kept capabilities survive a change to an unprivileged uid (ambient)', async () => {
    const p = await maker.spawn('sleep', ['1000'], {
      namespaces: ['user', 'net'],
      uidMap: [{ inside: 0, outside: 100000, count: 65536 }],
      gidMap: [{ inside: 0, outside: 100000, count: 65536 }],
      user: { uid: 1000, gid: 1000 },
      capabilities: ['CAP_NET_BIND_SERVICE'],
      stdio: 'ignore',
    });
    await once(p, 'spawn');
    expect(status(p.pid!)).toMatchObject({ CapEff: '0000000000000400', CapAmb: '0000000000000400' });
    p.kill('SIGKILL');
    await p.exited;
  });
});

describe('what the command may keep: bad input', () => {
  it('capabilities: an unknown name is ERR_INVALID_ARG with the nearest names', () => {
    expect(() => spawn('true', [], { namespaces: ['user'], capabilities: ['CAP_NET_BIND_SERVIC' as 'CAP_NET_RAW'] })).toThrow(
      /did you mean 'CAP_NET_BIND_SERVICE'/,
    );
  });
});

const SANDBOX: SpawnOptions = { namespaces: isRoot ? ['pid', 'mount', 'net'] : ['user', 'pid', 'mount', 'net'] };

describe.each(makers)('attacks from inside fail, in a sandbox made by %s', (_maker, maker) => {
  it('/proc/sys and /proc/sysrq-trigger cannot be written (the value is written back as it was)', async () => {
    const sysrq = fs.existsSync('/proc/sysrq-trigger'); // CONFIG_MAGIC_SYSRQ
    const r = await maker.run(
      'sh',
      [
        '-c',
        `v=$(cat /proc/sys/kernel/core_pattern); printf "%s\\n" "$v" > /proc/sys/kernel/core_pattern && echo WROTE; ${sysrq ? 'echo h > /proc/sysrq-trigger && echo WROTE-SYSRQ;' : ''} true`,
      ],
      SANDBOX,
    );
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/core_pattern: Read-only file system/);
    if (sysrq) expect(r.stderr).toMatch(/sysrq-trigger: (Read-only file system|Permission denied)/);
    else console.log('this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ): only /proc/sys was tried');
  });

  it('masked kernel files read empty, masked directories are empty', async () => {
    const present = ['/proc/keys', '/proc/timer_list', '/proc/interrupts'].filter((p) => fs.existsSync(p));
    const r = await maker.run('sh', ['-c', `for f in ${present.join(' ')}; do wc -c < $f; done; ls -A /sys/firmware | wc -l`], SANDBOX);
    expect(r.stdout.trim().split('\n')).toEqual([...present.map(() => '0'), '0']);
  });

  it('read-only mounts cannot be remounted read-write, and the host files behind them stay as they were', async () => {
    const data = fs.mkdtempSync(path.join(scratch, 'ro-'));
    fs.chmodSync(data, 0o777);
    fs.writeFileSync(path.join(data, 'file'), 'host\n');
    fs.chmodSync(path.join(data, 'file'), 0o666);
    const target = fs.mkdtempSync(path.join(scratch, 'ro-target-'));
    const script = `mount -o remount,rw,bind ${target} 2>&1; mount -o remount,rw / 2>&1; (echo changed > ${target}/file) 2>&1; true`;
    const r = await maker.run('sh', ['-c', script], { ...SANDBOX, mounts: [{ type: 'bind', source: data, target, readonly: true }] });
    expect(r.stdout).toMatch(/permission denied|Operation not permitted|must be superuser/i);
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(fs.readFileSync(path.join(data, 'file'), 'utf8')).toBe('host\n');
  });

  itIf(hasBusybox, 'needs busybox-static', 'a readonly rootfs stays read-only (remount refused, nothing written on the host)', async () => {
    const root = path.join(scratch, `ro-root-${process.pid}`);
    execFileSync('cp', ['-a', layer, root]);
    const before = fs.readdirSync(path.join(root, 'etc')).sort();
    const r = await maker.run('/bin/sh', ['-c', 'mount -o remount,rw / 2>&1; (echo x > /etc/breach) 2>&1; true'], {
      namespaces: ['user', 'pid', 'mount'],
      rootfs: root,
      readonly: true,
      env: { PATH: '/bin' },
    });
    expect(r.stdout).toMatch(/Read-only file system/);
    expect(fs.readdirSync(path.join(root, 'etc')).sort()).toEqual(before);
  });

  it("unmounting /proc does not reveal the host's processes", async () => {
    const r = await maker.run('sh', ['-c', 'umount /proc 2>&1 || umount -l /proc 2>&1; ls /proc | grep -c "^[0-9]"'], SANDBOX);
    expect(r.stdout).toMatch(/(permission denied|must be superuser|Operation not permitted)/i);
    expect(Number(r.stdout.trim().split('\n').pop())).toBeLessThanOrEqual(5);
  });

  itRoot('the sandbox cannot raise its own cgroup limits: not by writing cgroupfs, not by mounting it', async () => {
    const cg = await Cgroup.create(`nsgroups-privs-limits-${process.pid}`, { pids: { max: 20 }, memory: { max: '64M' } });
    try {
      const paths = cg.path as Record<string, string>; // v1 on this host: a path per hierarchy
      const pidsFile = path.join(paths.pids, 'pids.max');
      const memFile = path.join(paths.memory, 'memory.limit_in_bytes');
      const script = `(echo max > ${pidsFile}) 2>&1; (echo -1 > ${memFile}) 2>&1; mkdir -p /tmp/cg && mount -t cgroup -o pids none /tmp/cg 2>&1; true`;
      for (const options of [{ namespaces: ['pid', 'mount'] }, { namespaces: ['user', 'pid', 'mount'] }] as SpawnOptions[]) {
        const r = await maker.run('sh', ['-c', script], { ...options, cgroup: cg, mounts: [{ type: 'tmpfs', target: '/tmp' }] });
        expect(r.stdout).toMatch(/Read-only file system|Permission denied/);
        expect(r.stdout).toMatch(/permission denied|Operation not permitted|must be superuser/i);
      }
      expect(fs.readFileSync(pidsFile, 'utf8').trim()).toBe('20');
      expect(fs.readFileSync(memFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    } finally {
      await cg.delete({ kill: true });
    }
  });

  it('the system calls of the default filter are refused inside (the kernel answers EPERM, clone3 ENOSYS)', async () => {
    const names = [
      'keyctl',
      'add_key',
      'request_key',
      'bpf',
      'perf_event_open',
      'userfaultfd',
      'io_uring_setup',
      'open_by_handle_at',
      'kexec_load',
      'init_module',
      'reboot',
      'swapon',
      'settimeofday',
      'acct',
      'unshare',
      'clone',
      'clone3',
      'ioctl',
      'getpid',
      'openat',
    ];
    const r = await maker.run(probe, names, SANDBOX);
    const seen = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')),
    );
    for (const n of names.slice(0, 16)) expect([n, seen[n]]).toEqual([n, 'EPERM']); // unshare/clone: with CLONE_NEWUSER
    expect(seen.clone3).toBe('ENOSYS');
    expect(seen.ioctl).toBe('EPERM'); // TIOCSTI
    expect(seen.getpid).toBe('ok');
    expect(seen.openat).toBe('ok');
    const relaxed = await maker.run(probe, ['keyctl', 'unshare'], { ...SANDBOX, seccomp: { allow: ['keyctl'], errno: 'EXFULL' } });
    expect(relaxed.stdout).not.toMatch(/^keyctl (EPERM|EXFULL)$/m);
    expect(relaxed.stdout).toMatch(/^unshare EXFULL$/m);
  });

  it('a new user namespace cannot be made inside (which would give the command capabilities again)', async () => {
    const r = await maker.run('sh', ['-c', 'unshare -U true 2>&1; echo $?'], SANDBOX);
    expect(r.stdout).toMatch(/Operation not permitted\n1\n$/);
  });

  it('the init cannot be read or ptraced by the command; a sibling of the same uid can (the oracle works)', async () => {
    // /proc/PID/environ needs ptrace read access: refused for a non-dumpable process to a
    // command without CAP_SYS_PTRACE, granted for a dumpable one of the same uid
    const r = await maker.run(
      'sh',
      [
        '-c',
        'sleep 5 & s=$!; sleep 0.1; head -c1 /proc/$s/environ >/dev/null && echo SIBLING-READ; head -c1 /proc/1/environ 2>&1; head -c1 /proc/1/mem 2>&1; kill $s',
      ],
      SANDBOX,
    );
    expect(r.stdout).toMatch(/^SIBLING-READ\n/);
    expect(r.stdout).toMatch(/\/proc\/1\/environ.*Permission denied/);
    expect(r.stdout).toMatch(/\/proc\/1\/mem.*Permission denied/);
  });

  it('rlimits: set as given, core 0 by default; a file over fsize is refused by the kernel (SIGXFSZ)', async () => {
    const r = await maker.run(
      'sh',
      ['-c', 'grep -E "^Max (open files|file size|core file size)" /proc/self/limits; head -c 2097152 /dev/zero > /tmp/big; echo "exit $?"'],
      {
        ...SANDBOX,
        rlimits: { nofile: 64, fsize: '1M' },
        mounts: [{ type: 'tmpfs', target: '/tmp' }],
      },
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Max file size\s+1048576\s+1048576\s+bytes/);
    expect(lines[1]).toMatch(/^Max core file size\s+0\s+0\s+bytes/);
    expect(lines[2]).toMatch(/^Max open files\s+64\s+64\s+files/);
    expect(lines[3]).toBe(`exit ${128 + os.constants.signals.SIGXFSZ}`);
  });
});

describe('attacks from inside fail: the keyring, and bad input', () => {
  it("the caller's session keyring (and the secret in it) is out of reach; keyring: 'inherit' shows the oracle works", () => {
    const desc = `nsgroups-secret-${process.pid}`;
    const script = (keyringOption: string): string => `
      const ns = require(${JSON.stringify(path.join(__dirname, 'fixtures/lib.js'))});
      ns.run(${JSON.stringify(keyring)}, ['find', ${JSON.stringify(desc)}], { namespaces: ${JSON.stringify(SANDBOX.namespaces)}, seccomp: 'none', keyring: '${keyringOption}' })
        .then((r) => process.stdout.write(r.stdout));`;
    const inside = (option: string): string =>
      execFileSync(keyring, ['hold', `nsgroups-test-${process.pid}`, desc, 'hunter2', process.execPath, '-e', script(option)], { encoding: 'utf8' }).trim();
    expect(inside('inherit')).toBe('found hunter2');
    expect(inside('new')).toBe('ENOKEY');
  });

  it('rlimits: bad input is ERR_INVALID_ARG', () => {
    expect(() => spawn('true', [], { ...SANDBOX, rlimits: { nofile: { soft: 100, hard: 10 } } })).toThrow(/soft \(100\) is above hard \(10\)/);
    expect(() => spawn('true', [], { ...SANDBOX, rlimits: { files: 1 } as never })).toThrow(/unknown option 'files'/);
    expect(() => spawn('true', [], { ...SANDBOX, rlimits: { fsize: '1Q' } })).toThrow(/fsize/);
  });

  it('seccomp needs no_new_privs: noNewPrivileges: false with the default filter is refused before anything runs', () => {
    expect(() => spawn('true', [], { ...SANDBOX, noNewPrivileges: false })).toThrow(/seccomp filter needs noNewPrivileges/);
  });
});

afterAll(async () => {
  await closePools();
  // nothing of ours may be left running
  const leftovers = fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(scratch);
      } catch {
        return false;
      }
    });
  expect(leftovers).toEqual([]);
});
