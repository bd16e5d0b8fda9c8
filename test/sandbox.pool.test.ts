// Sandbox.pool(): sandboxes made ahead of time with one set of options. Seen through the kernel:
// a handed-out sandbox's holder was running before create() was called, no sandbox is handed
// out twice, close() leaves no process, directory or cgroup of the idle ones, a holder killed
// while idle is never handed out, and a pool whose sandboxes cannot be made says why (typed)
// without spinning. Isolation of pooled sandboxes: test/sandbox.isolation.test.ts runs against both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NsgroupsError, Sandbox, type SandboxPool } from '../lib';
import { cgroupDirs, eventually, makeWorkspace, pidsInNamespace, snapshot } from './helpers/sandboxes';

let ws: string;
let scratch: string;
beforeAll(() => {
  ws = makeWorkspace('pool');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-pool-scratch-'));
});
afterAll(() => {
  fs.rmSync(ws, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux (proc(5): starttime is in clock ticks)

/** Seconds since boot at which a process started (proc(5) /proc/PID/stat field 22). */
function startedAt(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) / CLK_TCK;
}
const uptime = (): number => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);

/** This process's children running a holder's shell: the holders of its sandboxes, idle or not. */
function holders(): number[] {
  return fs
    .readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
    .split(' ')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/proc/loadavg');
      } catch {
        return false;
      }
    });
}

/** The sandbox directories (sb-*) under this process's home in `scratch`. */
function sandboxDirs(): string[] {
  return fs
    .readdirSync(scratch)
    .filter((d) => d.startsWith(`nsgroups-sandboxes-${process.pid}-`))
    .flatMap((home) => fs.readdirSync(path.join(scratch, home)).filter((d) => d.startsWith('sb-')));
}

describe('Sandbox.pool', () => {
  it('hands over sandboxes made before create() was called, each once, and makes the next', async () => {
    const pool = Sandbox.pool({ workspace: ws, scratch, size: 2 });
    const all: Sandbox[] = [];
    try {
      expect(pool.stats()).toMatchObject({ idle: 0, making: 2, handedOver: 0 });
      await pool.ready();
      expect(pool.stats()).toMatchObject({ idle: 2, making: 0 });
      await new Promise((r) => setTimeout(r, 100));
      const before = uptime();
      const sb = await pool.create({ name: 'first' });
      all.push(sb);
      // the kernel's clock: the holder ran before the call
      expect(startedAt(sb.pid)).toBeLessThan(before);
      expect(sb.name).toBe('first');
      expect(sb.report().durationMs).toBeLessThan(100); // its clock starts at the hand-over, not when it was made
      expect((await sb.run('cat', ['README'])).stdout).toBe('the original\n');
      // 6 at once from a pool of 2: every one a sandbox of its own
      const more = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.create({ name: `t${i}` })));
      all.push(...more);
      const namespaces = all.map((s) => fs.readlinkSync(`/proc/${s.pid}/ns/pid`));
      expect(new Set(namespaces).size).toBe(7);
      expect(new Set(all.map((s) => s.dir)).size).toBe(7);
      expect(pool.stats().handedOver).toBe(7);
      // each is a world of its own: a write in one is not in the next, nor on the host
      const host = snapshot(ws);
      await more[0].run('sh', ['-c', 'echo changed > README; echo x > /tmp/mine']);
      expect((await more[1].run('sh', ['-c', 'cat README; test -e /tmp/mine || echo "no /tmp/mine"'])).stdout).toBe('the original\nno /tmp/mine\n');
      expect(snapshot(ws)).toEqual(host);
      await Promise.all(all.map((s) => s.dispose()));
      for (const ns of namespaces) expect(pidsInNamespace(ns)).toEqual([]);
      expect(more[0].report()).toMatchObject({ name: 't0', commands: 1, filesChanged: 1, disposed: true });
      // and it refilled
      await pool.ready();
      expect(pool.stats().idle).toBe(2);
    } finally {
      await Promise.all(all.map((s) => s.dispose()));
      await pool.close();
    }
  }, 60000);

  it('close() disposes of the idle sandboxes and those being made; handed-out ones stay the caller’s', async () => {
    const limits = process.geteuid!() === 0 ? { pids: { max: 32 } } : undefined;
    const pool = Sandbox.pool({ scratch, size: 2, limits });
    await pool.ready();
    const mine = await pool.create();
    const cgroupHomes = mine.cgroup ? cgroupDirs(mine.cgroup.path).map((d) => path.dirname(d)) : [];
    const cgroupsIn = (): string[] => cgroupHomes.flatMap((h) => fs.readdirSync(h).filter((d) => d.startsWith('sb-')));
    await eventually(() => pool.stats().idle === 2, 20000, 'the refill');
    expect(holders().length).toBe(3);
    expect(sandboxDirs().length).toBe(3);
    if (limits) expect(new Set(cgroupsIn()).size).toBe(3);
    const waiting = pool.create();
    const waiting2 = pool.create();
    const waiting3 = pool.create(); // the third waits: the pool has two
    await pool.close();
    await expect(waiting).resolves.toBeInstanceOf(Sandbox);
    await expect(waiting2).resolves.toBeInstanceOf(Sandbox);
    const refused = await waiting3.catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NsgroupsError);
    expect(refused).toMatchObject({ code: 'ERR_BUSY' });
    await (await waiting).dispose();
    await (await waiting2).dispose();
    // only the handed-out sandbox is left: its holder, its directory, its cgroup
    expect(holders()).toEqual([mine.pid]);
    expect(sandboxDirs()).toEqual([path.basename(mine.dir)]);
    if (limits) expect([...new Set(cgroupsIn())]).toEqual([path.basename(cgroupDirs(mine.cgroup!.path)[0])]);
    expect((await mine.run('echo', ['still mine'])).stdout).toBe('still mine\n');
    await expect(pool.create()).rejects.toMatchObject({ code: 'ERR_BUSY' });
    await expect(pool.ready(1)).rejects.toMatchObject({ code: 'ERR_BUSY' });
    await pool.close(); // twice: harmless
    await mine.dispose();
    expect(holders()).toEqual([]);
    expect(sandboxDirs()).toEqual([]);
    console.log(`saw: close() left only the handed-out sandbox${limits ? ' (and its cgroup)' : ' (no cgroup: rootless without delegation)'}`);
  }, 60000);

  it('a sandbox whose holder died while idle is never handed out', async () => {
    const pool = Sandbox.pool({ scratch, size: 1 });
    try {
      await pool.ready();
      expect(holders().length).toBe(1);
      const [idle] = holders();
      process.kill(idle, 'SIGKILL');
      const dead = (): boolean => {
        try {
          const stat = fs.readFileSync(`/proc/${idle}/stat`, 'utf8');
          return 'ZX'.includes(stat[stat.lastIndexOf(')') + 2]); // proc(5): the state after the command's name
        } catch {
          return true; // reaped
        }
      };
      await eventually(dead, 5000, 'the idle holder to die');
      await using sb = await pool.create();
      expect(sb.pid).not.toBe(idle);
      expect((await sb.run('echo', ['ok'])).stdout).toBe('ok\n');
      expect(pool.stats().failed).toBe(1);
    } finally {
      await pool.close();
    }
  }, 30000);

  it('bad options are errors of Sandbox.pool() and pool.create(), at once', () => {
    const pool = (o: unknown): SandboxPool => Sandbox.pool(o as never);
    for (const [o, message] of [
      [{ size: 0 }, /size/],
      [{ size: 65 }, /size/],
      [{ size: 1.5 }, /size/],
      [{ network: 'wifi' }, /network/],
      [{ namespaces: ['user'] }, /namespaces/],
      [{ workspace: '/no/such/dir' }, /workspace/],
    ] as const) {
      let err: unknown;
      try {
        pool(o);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NsgroupsError);
      expect(err).toMatchObject({ code: expect.stringMatching(/ERR_INVALID_ARG|ERR_NOT_FOUND/) });
      expect((err as Error).message).toMatch(message);
    }
  });

  it('pool.create() takes only what may differ from test to test', async () => {
    await using pool = Sandbox.pool({ scratch, size: 1 });
    for (const o of [{ workspace: ws }, { limits: {} }, { size: 2 }, { bogus: 1 }]) {
      const err = await pool.create(o as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NsgroupsError);
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARG' });
      if (!('bogus' in o)) expect((err as Error).message).toMatch(/Sandbox\.pool\(\)/);
    }
    await expect(pool.create({ keep: 'sometimes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(pool.stats().handedOver).toBe(0);
    // keep, per sandbox: its files stay where the message says
    const kept = await pool.create({ name: 'kept one', keep: true });
    await kept.run('sh', ['-c', 'echo left > /tmp/evidence']);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await kept.dispose();
    } finally {
      stderr.mockRestore();
    }
    const at = kept.report().kept!;
    expect(fs.readFileSync(path.join(at, 'tmp', 'evidence'), 'utf8')).toBe('left\n');
    expect(JSON.parse(fs.readFileSync(path.join(at, 'report.json'), 'utf8'))).toMatchObject({ name: 'kept one' });
    fs.rmSync(at, { recursive: true, force: true });
  }, 30000);

  it('a pool whose sandboxes cannot be made: create() rejects with the typed reason, the pool backs off, close() leaves nothing', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-pool-noshell-'));
    const pool = Sandbox.pool({ scratch, rootfs: empty, size: 2 });
    try {
      const err = await pool.create().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NsgroupsError);
      expect((err as Error).message).toMatch(/no \/bin\/sh/);
      await expect(pool.ready(1)).rejects.toBeInstanceOf(NsgroupsError);
      // backing off: over a second, a few attempts, not hundreds
      await new Promise((r) => setTimeout(r, 1000));
      const { failed } = pool.stats();
      expect(failed).toBeGreaterThanOrEqual(2);
      expect(failed).toBeLessThan(20);
    } finally {
      await pool.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
    expect(holders()).toEqual([]);
    expect(sandboxDirs()).toEqual([]);
  }, 30000);
});
