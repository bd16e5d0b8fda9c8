// Namespaces are really new (the kernel's /proc/PID/ns inodes differ from ours), pid 1 is the
// init, and each kind of isolation holds, checked from both sides.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, spawn, type NamespaceType, type SandboxProcess } from '../lib';
import { isRoot, itRoot } from './helpers/host';
import { nsLink, statusIds, waitFor } from './helpers/proc';

const ALL: NamespaceType[] = ['user', 'pid', 'mount', 'uts', 'ipc', 'net', 'cgroup'];

async function started(p: SandboxProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    p.once('spawn', resolve);
    p.once('error', reject);
  });
}

describe('new namespaces', () => {
  it.each(ALL)("'%s' is a new namespace (its /proc/PID/ns inode differs from ours)", async (type) => {
    const namespaces: NamespaceType[] = type === 'user' ? ['user'] : ['user', type];
    const p = spawn('sleep', ['30'], { namespaces, stdio: 'ignore' });
    await started(p);
    try {
      expect(nsLink(p.pid!, type === 'mount' ? 'mnt' : type)).not.toBe(nsLink('self', type === 'mount' ? 'mnt' : type));
      // what was not asked for is shared
      const untouched = ['net', 'ipc', 'uts'].filter((t) => !namespaces.includes(t as NamespaceType));
      for (const t of untouched) expect(nsLink(p.pid!, t)).toBe(nsLink('self', t));
    } finally {
      p.kill('SIGKILL');
      await p.exited;
    }
  });

  it('without namespaces, nothing is new', async () => {
    const p = spawn('sleep', ['30'], { stdio: 'ignore' });
    await started(p);
    for (const t of ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']) expect(nsLink(p.pid!, t)).toBe(nsLink('self', t));
    p.kill('SIGKILL');
    await p.exited;
  });

  it('all of them at once, with the sandbox seeing its own ids inside', async () => {
    const r = await run('sh', ['-c', 'readlink /proc/self/ns/net /proc/self/ns/uts; echo $$'], { namespaces: ALL });
    expect(r.code).toBe(0);
    const [net, uts, pid] = r.stdout.trim().split('\n');
    expect(net).not.toBe(nsLink('self', 'net'));
    expect(uts).not.toBe(nsLink('self', 'uts'));
    expect(pid).toBe('2'); // the command, under the init
  });
});

describe('pid 1 and /proc', () => {
  it('pid 1 is the nsgroups init, the command is pid 2', async () => {
    const r = await run('sh', ['-c', 'cat /proc/1/comm; echo $$; cat /proc/1/cmdline | tr "\\0" " "'], {
      namespaces: ['user', 'pid'],
    });
    const [comm, pid, cmdline] = r.stdout.trim().split('\n');
    expect(comm).toBe('nsgroups-init');
    expect(pid).toBe('2');
    expect(cmdline).toBe('nsgroups-init'); // no arguments, nothing of the command's
  });

  it("a fresh /proc shows only the sandbox's processes", async () => {
    const r = await run('sh', ['-c', 'ls -d /proc/[0-9]*'], { namespaces: ['user', 'pid'] });
    const pids = r.stdout
      .trim()
      .split('\n')
      .map((p) => Number(path.basename(p)));
    // the init, the shell, and ls itself: nothing of the host's
    expect(pids.every((p) => p <= 10)).toBe(true);
    expect(pids).toContain(1);
    expect(pids.length).toBeLessThanOrEqual(4);
  });

  it('orphans are reaped by the init (not by a shell)', async () => {
    // The inner sh exits at once: its background sleep is reparented to pid 1. The main command
    // later *execs* cat (which reaps nobody), so only the init can have reaped the orphan.
    const script =
      'o=$(sh -c "sleep 0.3 >/dev/null & echo \\$!"); echo orphan $o; sleep 0.1; echo FIRST; cat /proc/[0-9]*/stat; ' +
      'sleep 0.6; echo SECOND; exec cat /proc/[0-9]*/stat';
    const r = await run('sh', ['-c', script], { namespaces: ['user', 'pid'] });
    const orphan = Number(/orphan (\d+)/.exec(r.stdout)![1]);
    const [first, second] = r.stdout.split('SECOND');
    const stat = (text: string): Map<number, { state: string; ppid: number }> =>
      new Map(
        text
          .split('\n')
          .filter((l) => /^\d+ \(/.test(l))
          .map((l) => {
            const rest = l.slice(l.lastIndexOf(')') + 2).split(' ');
            return [Number(l.split(' ')[0]), { state: rest[0], ppid: Number(rest[1]) }];
          }),
      );
    const before = stat(first.split('FIRST')[1]);
    expect(before.get(orphan)).toMatchObject({ ppid: 1 }); // reparented to the init
    const after = stat(second);
    expect(after.has(orphan)).toBe(false); // exited and reaped: not even a zombie
    expect([...after.values()].filter((p) => p.state === 'Z')).toEqual([]);
  });

  it('a trapped SIGTERM reaches the command (our child, beside the init)', async () => {
    const p = spawn('sh', ['-c', 'trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 0.05; done'], {
      namespaces: ['user', 'pid'],
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const closed = new Promise((r) => p.once('close', r)); // before it can happen
    await waitFor(() => out.includes('ready'), 5000, 'the shell to be ready');
    p.kill('SIGTERM');
    await expect(p.exited).resolves.toMatchObject({ code: 7, signal: null });
    await closed;
    expect(out).toContain('got TERM');
  });

  it.each(['SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'] as const)('%s is forwarded to the command', async (sig) => {
    const p = spawn('sleep', ['30'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
    await started(p);
    p.kill(sig);
    await expect(p.exited).resolves.toMatchObject({ code: null, signal: sig });
  });

  it('the namespace ends with the command: what it left running is killed', async () => {
    const p = spawn('sh', ['-c', 'sleep 60 & echo $!; exit 0'], { namespaces: ['user', 'pid'], stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    await expect(p.exited).resolves.toMatchObject({ code: 0, signal: null });
    // the background sleep would be pid 3 inside; from here, no process of that namespace is left
    const nsOf = (pid: string): string | null => {
      try {
        return fs.readlinkSync(`/proc/${pid}/ns/pid`);
      } catch {
        return null;
      }
    };
    const ours = nsLink('self', 'pid');
    const left = fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        const ns = nsOf(d);
        return ns !== null && ns !== ours && fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').startsWith('sleep\x0060');
      });
    expect(left).toEqual([]);
    expect(out.trim()).toBe('3');
  });
});

describe('isolation', () => {
  it('hostname: set inside, the host keeps its own', async () => {
    const host = os.hostname();
    const r = await run('hostname', [], { namespaces: ['user'], hostname: 'sandbox-42' });
    expect(r.stdout.trim()).toBe('sandbox-42');
    expect(os.hostname()).toBe(host);
    expect(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()).toBe(host);
  });

  it("network 'loopback': lo is up and reachable; 'none': lo is down", async () => {
    const up = await run('ip', ['-o', 'link', 'show', 'lo'], { namespaces: ['user'], network: 'loopback' });
    expect(up.stdout).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    const down = await run('ip', ['-o', 'link', 'show', 'lo'], { namespaces: ['user'], network: 'none' });
    expect(down.stdout).toMatch(/<LOOPBACK>/);
    const ping = (network: 'none' | 'loopback') =>
      run(
        process.execPath,
        [
          '-e',
          `require('net').createServer().listen(0,'127.0.0.1',function(){const s=require('net').connect(this.address().port,'127.0.0.1',()=>{console.log('ok');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})}).on('error',e=>{console.log(e.code);process.exit(0)})`,
        ],
        {
          namespaces: ['user'],
          network,
        },
      );
    expect((await ping('loopback')).stdout.trim()).toBe('ok');
    expect((await ping('none')).stdout.trim()).toMatch(/^E(ADDRNOTAVAIL|NETUNREACH)$/);
  });

  it('a new net namespace has only lo', async () => {
    const r = await run('cat', ['/proc/net/dev'], { namespaces: ['user', 'net'] });
    const ifaces = r.stdout
      .split('\n')
      .slice(2)
      .filter(Boolean)
      .map((l) => l.split(':')[0].trim());
    expect(ifaces).toEqual(['lo']);
  });

  it("a mount made inside is absent from the host's mountinfo", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-mnt-'));
    try {
      const r = await run('sh', ['-c', `mount -t tmpfs nsgroups-test ${dir} && grep -c " ${dir} " /proc/self/mountinfo`], {
        namespaces: ['user', 'mount'],
        capabilities: ['CAP_SYS_ADMIN'], // it mounts itself
      });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('1');
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
    } finally {
      fs.rmdirSync(dir);
    }
  });

  it('a host SysV shared memory segment is invisible inside a new ipc namespace', async () => {
    const id = execFileSync('ipcmk', ['-M', '4096'], { encoding: 'utf8' }).match(/(\d+)/)![1];
    try {
      const inside = await run('ipcs', ['-m'], { namespaces: ['user', 'ipc'] });
      expect(inside.code).toBe(0);
      expect(inside.stdout).not.toMatch(new RegExp(`^0x[0-9a-f]+ +${id} `, 'm'));
      const shared = await run('ipcs', ['-m'], { namespaces: ['user'] });
      expect(shared.stdout).toMatch(new RegExp(`^0x[0-9a-f]+ +${id} `, 'm'));
    } finally {
      execFileSync('ipcrm', ['-m', id]);
    }
  });

  it('cgroup namespace: the sandbox sees its own cgroup as /', async () => {
    const r = await run('cat', ['/proc/self/cgroup'], { namespaces: ['user', 'cgroup'] });
    const unified = r.stdout.split('\n').find((l) => l.startsWith('0::'));
    expect(unified).toBe('0::/');
  });
});

describe('identity', () => {
  it('root inside, the caller outside', async () => {
    const p = spawn('sh', ['-c', 'id -u; id -g; read x'], { namespaces: ['user'], stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.split('\n').length >= 3, 5000, 'id output');
    expect(out.split('\n').slice(0, 2)).toEqual(['0', '0']);
    // the kernel's view from outside: the sandbox runs as us
    expect(statusIds(p.pid!, 'Uid')).toEqual(Array(4).fill(process.geteuid!()));
    expect(statusIds(p.pid!, 'Gid')).toEqual(Array(4).fill(process.getegid!()));
    expect(fs.readFileSync(`/proc/${p.pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(process.geteuid!()), '1']);
    p.stdin!.end('\n');
    await p.exited;
  });

  it('user: { uid, gid } inside maps the caller to that identity', async () => {
    const r = await run('sh', ['-c', 'id -u; id -g; cat /proc/self/uid_map'], { namespaces: ['user'], user: { uid: 1234, gid: 4321 } });
    const [uid, gid, map] = r.stdout.trim().split('\n');
    expect([uid, gid]).toEqual(['1234', '4321']);
    expect(map.trim().split(/\s+/)).toEqual(['1234', String(process.geteuid!()), '1']);
  });

  it('files of unmapped owners show the overflow uid 65534', async () => {
    // A file owned by someone other than the caller: root's / when rootless; a chowned file as root.
    let target = '/';
    let dir: string | undefined;
    if (isRoot) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-owner-'));
      target = path.join(dir, 'f');
      fs.writeFileSync(target, '');
      fs.chownSync(target, 12345, 12345);
      fs.chmodSync(dir, 0o755);
    }
    try {
      const r = await run('stat', ['-c', '%u %g', target], { namespaces: ['user'] });
      expect(r.stdout.trim()).toBe('65534 65534');
      expect(fs.readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim()).toBe('65534');
    } finally {
      if (dir) fs.rmSync(dir, { recursive: true });
    }
  });

  itRoot('as root, namespaces need no user namespace', async () => {
    const r = await run('sh', ['-c', 'echo $$; id -u; hostname; readlink /proc/self/ns/user'], {
      namespaces: ['pid', 'mount', 'net', 'ipc'],
      hostname: 'rootful',
    });
    expect(r.stdout.trim().split('\n')).toEqual(['2', '0', 'rootful', nsLink('self', 'user')]);
  });

  itRoot('as root without a user namespace, user: { uid, gid, groups } switches identity', async () => {
    const r = await run('sh', ['-c', 'id -u; id -g; id -G'], { user: { uid: 4242, gid: 4343, groups: [4444] } });
    expect(r.stdout.trim().split('\n')).toEqual(['4242', '4343', '4343 4444']);
  });
});
