// Sandbox: bad options are ERR_INVALID_ARG (or ERR_NOT_FOUND) before anything is made; a create
// that fails half way undoes what it made; a command may not choose what the sandbox decides.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Sandbox } from '../lib';
import { mounts } from './helpers/cgroupfs';
import { makeWorkspace } from './helpers/sandboxes';

let ws: string;
beforeAll(() => {
  ws = makeWorkspace('opts');
});
afterAll(() => fs.rmSync(ws, { recursive: true, force: true }));

/** This process's sandbox directories under the system's tmp, and what is in them. */
function homes(): string[] {
  return fs
    .readdirSync(os.tmpdir())
    .filter((n) => n.startsWith(`nsgroups-sandboxes-${process.pid}-`))
    .flatMap((n) =>
      fs
        .readdirSync(path.join(os.tmpdir(), n))
        .filter((e) => e.startsWith('sb-'))
        .map((e) => path.join(n, e)),
    );
}

/** The sandbox cgroups of this process, in every hierarchy (as root: under /nsgroups). */
function sandboxCgroups(): string[] {
  return mounts.flatMap((m) => {
    const home = path.join(m.mountPoint, 'nsgroups', `sandboxes-${process.pid}-0`);
    return fs.existsSync(home)
      ? fs
          .readdirSync(home, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => path.join(home, e.name))
      : [];
  });
}

describe('Sandbox.create options', () => {
  it.each([
    [{ netwrok: 'none' }, /unknown option 'netwrok' \(did you mean 'network'\?\)/],
    [{ network: 'bridge' }, /network must be one of 'none', 'loopback', 'host'/],
    [{ namespaces: ['user'] }, /'namespaces' is not supported: a sandbox always has its own/],
    [{ cgroup: {} }, /give limits: the sandbox makes its own cgroup/],
    [{ workspace: '/' }, /the whole host/],
    [{ workspace: '/proc/self' }, /under \/proc/],
    [{ rootfs: 'relative/dir' }, /must be 'host', 'system' or an absolute directory/],
    [{ rootfs: '/' }, /use rootfs: 'host'/],
    [{ keep: 'sometimes' }, /keep must be true, false or 'on-failure'/],
    [{ timeout: -1 }, /timeout must be between 1/],
    [{ limits: { memory: { max: '12X' } } }, /memory.max/],
    [{ mounts: [{ type: 'tmpfs', target: 'relative' }] }, /must be an absolute path/],
    [{ rlimits: { nofiles: 1 } }, /unknown option 'nofiles' \(did you mean 'nofile'\?\)/],
  ])('%j is ERR_INVALID_ARG', async (options, message) => {
    await expect(Sandbox.create(options as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(message) });
  });

  it('a workspace that does not exist is ERR_NOT_FOUND; a scratch inside the workspace is refused', async () => {
    await expect(Sandbox.create({ workspace: path.join(ws, 'missing') })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(Sandbox.create({ workspace: ws, scratch: path.join(ws, 'src') })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/is inside the workspace/),
    });
  });

  it('NSGROUPS_KEEP must be a known value', async () => {
    process.env.NSGROUPS_KEEP = 'maybe';
    try {
      await expect(Sandbox.create({})).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/NSGROUPS_KEEP/) });
    } finally {
      delete process.env.NSGROUPS_KEEP;
    }
  });

  it('a create that fails half way (a rootfs without a shell) leaves nothing: no directory, no process, no cgroup', async () => {
    const image = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-sb-empty-image-'));
    fs.chmodSync(image, 0o755);
    const before = homes();
    const cgroupsBefore = sandboxCgroups();
    try {
      const err = await Sandbox.create({ workspace: ws, rootfs: image }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve', message: expect.stringMatching(/has no \/bin\/sh/) });
      expect(homes()).toEqual(before);
      expect(sandboxCgroups()).toEqual(cgroupsBefore);
      expect(fs.readdirSync(image)).toEqual([]);
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
    }
  });
});

describe('command options', () => {
  it('a command may not choose what the sandbox decides; bad options throw before anything runs', async () => {
    await using sb = await Sandbox.create({});
    expect(() => sb.spawn('true', [], { namespaces: ['net'] } as never)).toThrow(/the sandbox decides namespaces for all its commands/);
    await expect(sb.run('true', [], { mounts: [] } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/the sandbox decides mounts/),
    });
    expect(() => sb.spawn('true', [], { input: 'x' } as never)).toThrow(/with sb.spawn\(\) write to p.stdin/);
    expect(sb.report().commands).toBe(0);
  });

  it('cwd is a sandbox path, relative to the workspace; env, timeout and rlimits default to the sandbox’s', async () => {
    await using sb = await Sandbox.create({ workspace: ws, env: { PATH: '/usr/bin:/bin', ONLY: 'this' }, timeout: 300, rlimits: { nofile: 64 } });
    expect((await sb.run('pwd', [], { cwd: 'src' })).stdout).toBe(`${ws}/src\n`);
    expect((await sb.run('sh', ['-c', 'echo $ONLY; ulimit -n'])).stdout).toBe('this\n64\n');
    expect((await sb.run('sh', ['-c', 'ulimit -n'], { rlimits: { nofile: 32 } })).stdout).toBe('32\n');
    const slow = await sb.run('sleep', ['5']);
    expect(slow).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
    expect((await sb.run('sleep', ['0.5'], { timeout: 5000 })).code).toBe(0);
  });

  it("a command that cannot start fails as spawn()'s do: 'error' is the caller's (the sandbox adds no listener)", async () => {
    await using sb = await Sandbox.create({});
    const p = sb.spawn('nsgroups-no-such-command');
    expect(p.listenerCount('error')).toBe(0);
    await expect(p.exited).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve' });
    await expect(sb.run('nsgroups-no-such-command')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', status: 'setup' });
    expect(sb.report()).toMatchObject({ commands: 2, statuses: { setup: 2 }, commandCpuMs: 0 });
  });

  it("a command's result is run()'s, with its verdict and usage; the report counts the verdicts and sums the commands' CPU", async () => {
    await using sb = await Sandbox.create({});
    const ok = await sb.run('sh', ['-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done']);
    const exit = await sb.run('sh', ['-c', 'exit 3']);
    const slow = await sb.run('sleep', ['30'], { timeout: 300, killAfter: 1000 });
    const big = await sb.run('sh', ['-c', 'yes | head -c 100000'], { maxBuffer: 1000 });
    expect(ok).toMatchObject({ code: 0, status: 'ok' });
    expect(exit).toMatchObject({ code: 3, status: 'exit' });
    expect(slow).toMatchObject({ status: 'timeout', timedOut: true });
    expect(big.status).toBe('output');
    expect(big.stdout.length).toBe(1000);
    // the kernel's rusage of each command (its shell counted its loop: some CPU)
    expect(ok.usage.cpuUserMs + ok.usage.cpuSystemMs).toBeGreaterThan(0);
    const r = sb.report();
    expect(r.statuses).toEqual({ ok: 1, exit: 1, timeout: 1, output: 1 });
    const sum = [ok, exit, slow, big].reduce((s, x) => s + x.usage.cpuUserMs + x.usage.cpuSystemMs, 0);
    expect(Math.abs(r.commandCpuMs - sum)).toBeLessThanOrEqual(0.1);
    expect(() => sb.spawn('true', [], { maxBuffer: 10 } as never)).toThrow(/sb.run\(\) takes maxBuffer/);
  });

  it('report() before dispose: the commands, the processes started, no leftovers yet', async () => {
    await using sb = await Sandbox.create({ name: 'reporting' });
    await sb.run('sh', ['-c', 'true; true']);
    const r = sb.report();
    expect(r).toMatchObject({ name: 'reporting', commands: 1, disposed: false, leftovers: [], filesChanged: null, kept: null });
    expect(r.processes).toBeGreaterThanOrEqual(1);
    expect(r.durationMs).toBeGreaterThan(0);
  });
});
