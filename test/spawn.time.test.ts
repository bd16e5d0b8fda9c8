// timeout, AbortSignal and killSignal as in child_process; time namespaces with clock offsets.
import * as fs from 'node:fs';
import { run, spawn, type SpawnOptions } from '../lib';

const sandboxed: SpawnOptions = { namespaces: ['user', 'pid'] };

describe('timeout, signal, killSignal', () => {
  it('a timeout kills with SIGTERM and says so', async () => {
    const started = Date.now();
    const p = spawn('sleep', ['30'], { ...sandboxed, timeout: 200, stdio: 'ignore' });
    await expect(p.exited).resolves.toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(p.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(10000);
  });

  it('killSignal chooses the signal', async () => {
    // (in a pid namespace, so that the orphaned sleep, holding our pipes, dies with the shell)
    const r = await run('sh', ['-c', 'trap "" TERM; sleep 30'], { ...sandboxed, timeout: 100, killSignal: 'SIGKILL' });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('a command that ends in time is not touched', async () => {
    const p = spawn('true', [], { timeout: 5000, stdio: 'ignore' });
    await expect(p.exited).resolves.toMatchObject({ code: 0, signal: null });
    expect(p.timedOut).toBe(false);
  });

  it('an abort kills and ends run() with an AbortError', async () => {
    const ac = new AbortController();
    const r = run('sleep', ['30'], { ...sandboxed, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(r).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it("an abort: 'error' (AbortError), then 'exit' with the signal", async () => {
    const ac = new AbortController();
    const p = spawn('sleep', ['30'], { ...sandboxed, signal: ac.signal, stdio: 'ignore' });
    const events: string[] = [];
    p.on('error', (e) => events.push(`error:${e.name}`));
    p.on('exit', (code, signal) => events.push(`exit:${code},${signal}`));
    await new Promise((r) => p.once('spawn', r));
    ac.abort();
    await new Promise((r) => p.once('close', r));
    expect(events).toEqual(['error:AbortError', 'exit:null,SIGTERM']);
  });

  it('an already aborted signal kills at once', async () => {
    const p = spawn('sleep', ['30'], { signal: AbortSignal.abort(), stdio: 'ignore' });
    p.on('error', () => {});
    await expect(p.exited).resolves.toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('bad values are refused', () => {
    expect(() => spawn('true', [], { timeout: -1 })).toThrow(/timeout must be/);
    expect(() => spawn('true', [], { timeout: 1.5 })).toThrow(/timeout must be an integer/);
    expect(() => spawn('true', [], { signal: {} as AbortSignal })).toThrow(/AbortSignal/);
    expect(() => spawn('true', [], { killSignal: 'SIGFOO' as NodeJS.Signals })).toThrow(/killSignal/);
  });
});

describe('time namespace', () => {
  const clocks =
    "const {execSync}=require('child_process');" +
    "console.log(JSON.stringify({mono: Number(process.hrtime.bigint()/1000000n), boot: Number(require('fs').readFileSync('/proc/uptime','utf8').split(' ')[0])*1000}))";
  const outside = (): { mono: number; boot: number } => ({
    mono: Number(process.hrtime.bigint() / 1000000n),
    boot: Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000,
  });

  it('CLOCK_MONOTONIC and CLOCK_BOOTTIME carry the offsets inside, not outside', async () => {
    const before = outside();
    const r = await run(process.execPath, ['-e', clocks], { namespaces: ['user', 'time'], timeOffsets: { monotonic: 3600, boottime: 7200 } });
    const after = outside();
    expect(r.stderr).toBe('');
    const inside = JSON.parse(r.stdout) as { mono: number; boot: number };
    expect(inside.mono - 3600_000).toBeGreaterThanOrEqual(before.mono - 50);
    expect(inside.mono - 3600_000).toBeLessThanOrEqual(after.mono + 50);
    expect(inside.boot - 7200_000).toBeGreaterThanOrEqual(before.boot - 50);
    expect(inside.boot - 7200_000).toBeLessThanOrEqual(after.boot + 50);
  });

  it('the offsets are in /proc/PID/timens_offsets, negative and fractional ones included', async () => {
    const p = spawn('sleep', ['5'], { namespaces: ['user', 'time', 'pid'], timeOffsets: { monotonic: -1.5, boottime: 10 }, stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    const lines = fs
      .readFileSync(`/proc/${p.pid}/timens_offsets`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    expect(lines).toEqual([
      ['monotonic', '-2', '500000000'],
      ['boottime', '10', '0'],
    ]);
    expect(fs.readlinkSync(`/proc/${p.pid}/ns/time`)).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
    p.kill('SIGKILL');
    await p.exited;
  });

  it('with joins too (the offsets go to the grandchild in a joined pid namespace)', async () => {
    const holder = spawn('sleep', ['30'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    try {
      const r = await run('sh', ['-c', 'cut -d" " -f1 /proc/uptime'], {
        join: [`/proc/${holder.pid}/ns/user`, `/proc/${holder.pid}/ns/pid`],
        namespaces: ['time'],
        timeOffsets: { boottime: 100000 },
      });
      expect(Number(r.stdout)).toBeGreaterThan(100000);
    } finally {
      holder.kill('SIGKILL');
      await holder.exited;
    }
  });

  it("'time' needs offsets, and offsets need 'time'", () => {
    expect(() => spawn('true', [], { namespaces: ['user', 'time'] })).toThrow(/needs options.timeOffsets/);
    expect(() => spawn('true', [], { namespaces: ['user'], timeOffsets: { monotonic: 1 } })).toThrow(/add 'time' to namespaces/);
    expect(() => spawn('true', [], { namespaces: ['user', 'time'], timeOffsets: { realtime: 1 } as object })).toThrow(/unknown option 'realtime'/);
  });
});
