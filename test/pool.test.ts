// The warm pool: sandboxes made ahead of time and handed a command. The hardening tests run
// against pooled sandboxes too (test/hostile.privileges.test.ts, helpers/makers.ts); here is
// what is the pool's own: a sandbox is handed out once, refills under concurrency, typed errors
// of broken sandboxes, a parked sandbox holds nothing of ours, per-run limits, no leaks after a
// soak, close() or a crash of Node. The kernel is the oracle: /proc, cgroupfs, mountinfo.
import { spawn as cpSpawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPool, NsgroupsError, type Pool } from '../lib';
import { resolveSpawn } from '../lib/spawn/options';
import { spawnResolved, type SandboxProcess } from '../lib/spawn/process';
import { isRoot, itRoot } from './helpers/host';

const SANDBOX = { namespaces: ['user', 'pid', 'mount', 'net', 'uts', 'ipc'] } as const;
let scratch: string;
const pools: Pool[] = [];
async function pool(options: Parameters<typeof createPool>[0]): Promise<Pool> {
  const p = await createPool(options);
  pools.push(p);
  return p;
}

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-pool-test-${process.pid}-`));
  fs.chmodSync(scratch, 0o755);
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Our children that are in a pid namespace below ours (the sandboxes' processes). */
function sandboxChildren(): number[] {
  const mine = String(process.pid);
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
      if (/^PPid:\s*(\d+)$/m.exec(status)?.[1] !== mine) continue;
      if ((/^NSpid:\s*(.*)$/m.exec(status)?.[1].trim().split(/\s+/).length ?? 1) > 1) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

function poolCgroups(): string[] {
  const out: string[] = [];
  for (const h of ['memory', 'pids', 'cpu,cpuacct', 'unified']) {
    const base = `/sys/fs/cgroup/${h}/nsgroups`;
    try {
      for (const d of fs.readdirSync(base)) if (d.startsWith(`nsgroups-pool-${process.pid}-`)) out.push(`${h}/${d}`);
    } catch {
      /* no base there */
    }
  }
  return out;
}

describe('bad input is refused before anything is made', () => {
  it('createPool: size, a signal, limits with a cgroup, a bad sandbox option', async () => {
    await expect(createPool({ size: 0 })).rejects.toThrow(/size must be/);
    await expect(createPool({ size: 2, signal: new AbortController().signal } as never)).rejects.toThrow(/a signal belongs to a run/);
    await expect(createPool({ size: 1, namespaces: ['usr' as 'user'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(sandboxChildren()).toEqual([]);
  });

  it("a run given an option of the sandbox is told it is the pool's", async () => {
    const p = await pool({ size: 1, ...SANDBOX });
    await expect(p.run('true', [], { namespaces: ['user'] } as never)).rejects.toThrow(
      /'namespaces' describes the sandbox, which is the pool's: give it to createPool/,
    );
    expect(() => p.spawn('true', [], { mounts: [] } as never)).toThrow(/'mounts' describes the sandbox/);
    expect(() => p.spawn('true', [], { limits: {} } as never)).toThrow(/limits are applied before the hand-over/);
    await expect(p.run('true', [], { limits: { pids: { max: 3 } } })).rejects.toThrow(/this pool has no cgroup per sandbox/);
    expect(p.stats().idle).toBe(1); // nothing was taken
  });
});

describe('a pooled sandbox', () => {
  it('runs the command with its stdio, cwd and environment of the run, as the command of a spawn would', async () => {
    const p = await pool({ size: 2, ...SANDBOX, hostname: 'pooled' });
    const dir = fs.mkdtempSync(path.join(scratch, 'cwd-'));
    const r = await p.run('sh', ['-c', 'read x; echo "$x $(hostname) $(pwd) $HOME $1" ; echo err >&2; exit 3', 'sh', 'arg'], { input: 'in\n', cwd: dir });
    expect(r).toMatchObject({ code: 3, signal: null, stdout: `in pooled ${dir} ${process.env.HOME} arg\n`, stderr: 'err\n' });
    const env = await p.run('sh', ['-c', 'echo "$A:$HOME"'], { env: { A: 'only' } });
    expect(env.stdout).toBe('only:\n');
    const here = await p.run('pwd', []);
    expect(here.stdout.trim()).toBe(process.cwd()); // inherited, as a spawn()'s is
    // Node moved after the sandboxes were made: a run without cwd follows it, as spawn() would
    const before = process.cwd();
    process.chdir(dir);
    try {
      expect((await p.run('pwd', [])).stdout.trim()).toBe(dir);
    } finally {
      process.chdir(before);
    }
  });

  it('a run without cwd keeps the inherited directory even where a mount of the sandbox hides its path', async () => {
    // spawn() semantics: the directory is inherited, not looked up again by path
    const dir = fs.mkdtempSync(path.join(scratch, 'hidden-'));
    const before = process.cwd();
    process.chdir(dir);
    try {
      const p = await pool({ size: 1, ...SANDBOX, mounts: [{ type: 'tmpfs', target: scratch }] });
      const r = await p.run('sh', ['-c', 'ls -a . | wc -l; test -d "$1" && echo visible || echo hidden', 'sh', dir]);
      expect(r.stdout).toBe('2\nhidden\n');
    } finally {
      process.chdir(before);
    }
  });

  it('holds nothing of ours while it waits: two fds (its sync socket and report pipe), no capability, the filter, every signal blocked', async () => {
    // files the parent has open when the sandbox is made must not stay open in it
    const held = fs.openSync(path.join(scratch, 'held'), 'w');
    const p = await pool({ size: 1, ...SANDBOX });
    try {
      await p.ready(1);
      const parked = sandboxChildren().filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== 'nsgroups-init\0');
      expect(parked).toHaveLength(1);
      const fds = fs.readdirSync(`/proc/${parked[0]}/fd`).map((fd) => fs.readlinkSync(`/proc/${parked[0]}/fd/${fd}`));
      expect(fds.sort()).toEqual([expect.stringMatching(/^pipe:/), expect.stringMatching(/^socket:/)].sort());
      const status = fs.readFileSync(`/proc/${parked[0]}/status`, 'utf8');
      expect(status).toMatch(/^CapEff:\s*0+$/m);
      expect(status).toMatch(/^Seccomp:\s*2$/m);
      // every signal the C library lets a program block stays blocked until its exec
      expect(status).toMatch(/^SigBlk:\s*fffffffe7ffbfeff$/m);
    } finally {
      fs.closeSync(held);
    }
  });

  itRoot('a parked copy of our memory (a fork-style child: another uid) is not dumpable: no ptrace, no /proc/PID/mem', async () => {
    const p = await pool({
      size: 1,
      namespaces: ['user', 'pid', 'mount'],
      uidMap: [{ inside: 0, outside: 100000, count: 65536 }],
      gidMap: [{ inside: 0, outside: 100000, count: 65536 }],
    });
    await p.ready(1);
    const parked = sandboxChildren().filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== 'nsgroups-init\0');
    expect(parked).toHaveLength(1);
    expect(fs.readFileSync(`/proc/${parked[0]}/status`, 'utf8')).toMatch(/^Uid:\s+100000\s/m);
    // proc(5): the files of a process that is not dumpable belong to root, not to its uid
    expect(fs.statSync(`/proc/${parked[0]}/environ`).uid).toBe(0);
    const r = await p.run('sh', ['-c', 'id -u; stat -c %u /proc/self/environ'], {});
    expect(r.stdout).toBe('0\n0\n'); // the command is dumpable again (root inside is 100000 outside)
  });

  it('is handed out once: concurrent runs get sandboxes of their own (pid, net, mount namespaces), and the pool refills', async () => {
    const p = await pool({ size: 2, ...SANDBOX });
    const runs = await Promise.all(
      Array.from({ length: 12 }, () => p.run('sh', ['-c', 'readlink /proc/self/ns/pid /proc/self/ns/net /proc/self/ns/mnt; echo $$'])),
    );
    for (const r of runs) expect(r.code).toBe(0);
    const ns = runs.map((r) => r.stdout.split('\n').slice(0, 3).join(' '));
    expect(new Set(ns).size).toBe(12);
    for (const r of runs) expect(r.stdout.split('\n')[3]).toBe('2'); // pid 2: the init is 1
    expect(p.stats()).toMatchObject({ handedOver: 12, failed: 0, waiting: 0 });
    await p.ready(2);
    expect(p.stats()).toMatchObject({ idle: 2, making: 0 });
  });

  it('spawn() hands one out at once, and says ERR_BUSY when none is ready', async () => {
    const p = await pool({ size: 1, ...SANDBOX });
    const child = p.spawn('sleep', ['10'], { stdio: 'ignore' });
    expect(() => p.spawn('true')).toThrow(expect.objectContaining({ code: 'ERR_BUSY', message: expect.stringMatching(/await pool.ready\(1\)/) }));
    await p.ready(1);
    child.kill('SIGKILL');
    expect(await child.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('the internal hand-over refuses a second command for the same sandbox', async () => {
    const spec = resolveSpawn('true', [], { ...SANDBOX, stdio: 'ignore' });
    let parked!: () => void;
    const ready = new Promise<void>((r) => (parked = r));
    const proc: SandboxProcess = spawnResolved(spec, { park: { parked, ended: () => {} } });
    await ready;
    const first = proc._handOver(resolveSpawn('true', [], { ...SANDBOX, stdio: 'ignore' }));
    expect(() => proc._handOver(resolveSpawn('true', [], { ...SANDBOX, stdio: 'ignore' }))).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    expect(await first.exited).toMatchObject({ code: 0, signal: null });
  });

  it('a filter that denies a call of the hand-over is installed after it (and still holds)', async () => {
    const p = await pool({ size: 1, ...SANDBOX, seccomp: { deny: ['chdir', 'close_range'] } });
    const r = await p.run('sh', ['-c', 'pwd; cd / || echo refused; grep -E "^Seccomp:" /proc/self/status'], { cwd: '/tmp' });
    expect(r.stdout).toBe('/tmp\nrefused\nSeccomp:\t2\n');
  });

  it('a command that cannot start is a typed error of the run; the pool goes on', async () => {
    const p = await pool({ size: 1, ...SANDBOX });
    await expect(p.run('no-such-command-here')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve' });
    await expect(p.run('true', [], { cwd: '/no/such/dir' })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', step: 'chdir' });
    expect((await p.run('true')).code).toBe(0);
  });

  it('a sandbox that cannot take the stdio (nofile 1) fails its run with a typed error at the hand-over', async () => {
    const p = await pool({ size: 1, ...SANDBOX, rlimits: { nofile: 1 } });
    const err = await p.run('true', [], { stdio: 'pipe' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ step: 'handover' });
  });

  it('a sandbox that can no longer be made: the waiting run gets the typed setup error, and the pool backs off', async () => {
    const source = fs.mkdtempSync(path.join(scratch, 'bind-'));
    const target = fs.mkdtempSync(path.join(scratch, 'target-'));
    const p = await pool({ size: 1, ...SANDBOX, mounts: [{ type: 'bind', source, target }] });
    fs.rmSync(source, { recursive: true });
    expect((await p.run('true')).code).toBe(0); // the sandbox made before
    const err = await p.run('true').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringContaining(`'${source}' does not exist`) });
    expect(p.stats().failed).toBeGreaterThanOrEqual(1);
  });

  it('close() ends the idle sandboxes, fails the waiting runs, and waits for the running ones', async () => {
    const p = await createPool({ size: 1, ...SANDBOX });
    const running = p.spawn('sh', ['-c', 'sleep 0.3; exit 7'], { stdio: 'ignore' });
    const waiting = p.run('true').catch((e: unknown) => e);
    const t0 = Date.now();
    await p.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(await running.exited).toMatchObject({ code: 7, signal: null });
    expect(await waiting).toMatchObject({ code: 'ERR_BUSY', message: 'the pool is closed' });
    expect(sandboxChildren()).toEqual([]);
    await expect(p.run('true')).rejects.toMatchObject({ code: 'ERR_BUSY' });
  });
});

describe('a pooled run is judged as a spawned one (docs/judge.md)', () => {
  it("status and usage: 'ok', 'exit', 'signal'; the wall clock starts at the hand-over, not when the sandbox was made", async () => {
    const p = await pool({ size: 1, ...SANDBOX });
    await p.ready(1);
    await new Promise((r) => setTimeout(r, 1500)); // the sandbox waits, parked
    const ok = await p.run('true', []);
    expect(ok).toMatchObject({ status: 'ok', code: 0 });
    expect(ok.usage.wallMs).toBeLessThan(1500);
    expect(await p.run('sh', ['-c', 'exit 3'])).toMatchObject({ status: 'exit', code: 3 });
    expect(await p.run('sh', ['-c', 'kill -SEGV $$'])).toMatchObject({ status: 'signal', signal: 'SIGSEGV' });
  });

  it("'timeout' (with killAfter's SIGKILL for a command that ignores SIGTERM), 'output' (maxBuffer), an input file", async () => {
    const p = await pool({ size: 2, ...SANDBOX });
    const slept = await p.run('sleep', ['30'], { timeout: 200 });
    expect(slept).toMatchObject({ status: 'timeout', signal: 'SIGTERM', timedOut: true });
    const stubborn = await p.run('sh', ['-c', 'trap "" TERM; echo ready; while :; do sleep 0.05; done'], { timeout: 1000, killAfter: 100 });
    // the trap was in place (it said ready) before the SIGTERM, so SIGKILL ended it
    if (stubborn.stdout.includes('ready')) expect(stubborn).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
    else expect(stubborn).toMatchObject({ status: 'timeout', signal: 'SIGTERM' });
    const loud = await p.run('sh', ['-c', 'yes'], { maxBuffer: 1000 });
    expect(loud).toMatchObject({ status: 'output' });
    expect(loud.stdout).toHaveLength(1000);
    const file = path.join(scratch, 'input');
    fs.writeFileSync(file, 'from a file\n');
    expect((await p.run('cat', [], { input: { file } })).stdout).toBe('from a file\n');
    await expect(p.run('cat', [], { input: { file: path.join(scratch, 'missing') } })).rejects.toMatchObject({ status: 'setup', code: 'ERR_NOT_FOUND' });
  });

  it("'cpuTime' is the pool's (RLIMIT_CPU is set before the sandbox parks); a run may not ask for it", async () => {
    const p = await pool({ size: 1, ...SANDBOX, cpuTime: 0.3 });
    const r = await p.run('sh', ['-c', 'while :; do :; done']);
    expect(r).toMatchObject({ status: 'cpuTime', signal: 'SIGKILL' });
    expect(r.usage.cpuUserMs + r.usage.cpuSystemMs).toBeGreaterThanOrEqual(300);
    await expect(p.run('true', [], { cpuTime: 1 } as never)).rejects.toThrow(/'cpuTime' describes the sandbox/);
  });

  itRoot("'memory': a hog over its sandbox's memory limit is OOM-killed, counted in that sandbox's cgroup", async () => {
    const p = await pool({ size: 1, ...SANDBOX, limits: { memory: { max: '64M', swapMax: 0 }, pids: { max: 64 } } });
    const r = await p.run('sh', ['-c', 'head -c 536870912 /dev/zero | tail > /dev/null']);
    expect(r).toMatchObject({ status: 'memory' });
    expect(r.usage.cgroup).toMatchObject({ oomKills: 1 });
    expect(r.usage.cgroup!.memoryPeakBytes).toBeGreaterThan(32 * 1024 * 1024);
    expect(r.usage.cgroup!.memoryPeakBytes).toBeLessThanOrEqual(64 * 1024 * 1024);
  });
});

describe('a pool with a cgroup per sandbox', () => {
  itRoot("each sandbox is in a cgroup of its own, with the pool's limits; a run may tighten them", async () => {
    const p = await pool({ size: 2, ...SANDBOX, limits: { pids: { max: 32 }, memory: { max: '64M' } } });
    const [a, b] = await Promise.all([p.run('cat', ['/proc/self/cgroup']), p.run('cat', ['/proc/self/cgroup'])]);
    expect(a.stdout).not.toBe(b.stdout);
    expect(a.stats?.pids.max).toBe(32);
    const tight = await p.run('sh', ['-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done 2>&1; wait'], { limits: { pids: { max: 4 } } });
    expect(tight.stdout).toMatch(/can't fork|cannot fork|Resource temporarily unavailable/i);
    expect(tight.stats?.pids.max).toBe(4);
  });

  itRoot(
    '1000 runs leave nothing behind: fds, processes, cgroups, mounts',
    async () => {
      // what the library opens once per process (the init's memfd) is opened before we count
      const warm = await createPool({ size: 1, ...SANDBOX, limits: { pids: { max: 16 } } });
      await warm.run('true', [], { stdio: 'ignore' });
      await warm.close();
      const fdsBefore = fs.readdirSync('/proc/self/fd').length;
      const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8');
      const p = await createPool({ size: 4, ...SANDBOX, limits: { pids: { max: 16 } } });
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < 1000) {
          next++;
          const r = await p.run('true', [], { stdio: 'ignore' });
          if (r.code !== 0) throw new Error(`run ${next}: ${JSON.stringify(r)}`);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(p.stats()).toMatchObject({ handedOver: 1000, failed: 0 });
      await p.close();
      expect(sandboxChildren()).toEqual([]);
      expect(poolCgroups()).toEqual([]);
      expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mountsBefore);
    },
    300_000,
  );

  itRoot(
    'a crash of Node takes its sandboxes with it; the next pool removes the cgroups left',
    async () => {
      const lib = path.join(__dirname, 'fixtures/lib.js');
      const script = `
      const { createPool } = require(${JSON.stringify(lib)});
      createPool({ size: 2, namespaces: ['user', 'pid', 'mount', 'net'], limits: { pids: { max: 8 } } }).then(async (p) => {
        await p.ready(2);
        p.spawn('sleep', ['1000'], { stdio: 'ignore' });
        setTimeout(() => { console.log('ready'); }, 50);
      });`;
      const child = cpSpawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
      const crashed = child.pid!;
      const theirs = (): number[] =>
        fs
          .readdirSync('/proc')
          .filter((n) => /^\d+$/.test(n))
          .map(Number)
          .filter((pid) => {
            try {
              return /^PPid:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] === String(crashed);
            } catch {
              return false;
            }
          });
      expect(theirs().length).toBeGreaterThanOrEqual(3); // an init and a command, two parked, their inits
      const left = (): string[] => fs.readdirSync('/sys/fs/cgroup/pids/nsgroups').filter((d) => d.startsWith(`nsgroups-pool-${crashed}-`));
      expect(left()).toHaveLength(1);
      process.kill(crashed, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
      for (let i = 0; i < 100 && theirs().length; i++) await new Promise((r) => setTimeout(r, 20));
      expect(theirs()).toEqual([]); // the parent-death signal took every one
      expect(left()).toHaveLength(1); // its cgroups are still there, empty
      const p = await pool({ size: 1, ...SANDBOX, limits: { pids: { max: 8 } } });
      expect(left()).toEqual([]);
      expect((await p.run('true')).code).toBe(0);
    },
    60_000,
  );
});

if (!isRoot) {
  it('rootless: a pool of user-namespace sandboxes works the same', async () => {
    const p = await pool({ size: 2, namespaces: ['user', 'pid', 'mount', 'net'] });
    const r = await p.run('id', ['-u']);
    expect(r.stdout).toBe('0\n');
  });
}
