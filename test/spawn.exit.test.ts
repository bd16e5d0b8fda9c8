// Exit codes and signals come through exactly, with and without the init; events come in order.
import { run, spawn } from '../lib';
import { childPids, zombieChildren } from './helpers/proc';

const withInit = { namespaces: ['user', 'pid'] as const };

describe.each([
  ['no namespaces', {}],
  ['user+pid namespaces with the init', withInit],
])('exit status (%s)', (_label, base) => {
  const opts = { ...base, namespaces: 'namespaces' in base ? [...base.namespaces] : undefined };

  it.each([0, 1, 42, 127])('exit code %d', async (code) => {
    const r = await run('sh', ['-c', `exit ${code}`], opts);
    expect(r).toMatchObject({ code, signal: null });
  });

  it('a command killed by SIGTERM reports { code: null, signal: SIGTERM }', async () => {
    const p = spawn('sleep', ['30'], { ...opts, stdio: 'ignore' });
    await new Promise((r) => p.once('spawn', r));
    expect(p.kill('SIGTERM')).toBe(true);
    await expect(p.exited).resolves.toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(p.signalCode).toBe('SIGTERM');
    expect(p.exitCode).toBeNull();
  });

  it('a command that kills itself with SIGKILL reports SIGKILL', async () => {
    const r = await run('sh', ['-c', 'kill -KILL $$'], opts);
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it("events come as 'spawn', 'exit', 'close'", async () => {
    const p = spawn('sh', ['-c', 'echo out; exit 3'], opts);
    const events: string[] = [];
    for (const ev of ['spawn', 'exit', 'close', 'error']) p.on(ev, (...a) => events.push(`${ev}:${a.join(',')}`));
    p.stdout!.resume();
    p.stderr!.resume();
    await new Promise((r) => p.once('close', r));
    expect(events).toEqual(['spawn:', 'exit:3,', 'close:3,']);
  });

  it('leaves no zombie and no child behind', async () => {
    const before = childPids();
    await Promise.all(Array.from({ length: 5 }, (_, i) => run('sh', ['-c', `exit ${i}`], opts)));
    expect(zombieChildren()).toEqual([]);
    expect(childPids()).toEqual(before);
  });
});

it('a command run as pid 1 without the init still reports its exit code', async () => {
  const r = await run('sh', ['-c', 'echo $$; exit 5'], { namespaces: ['user', 'pid'], init: false });
  expect(r).toMatchObject({ code: 5, stdout: '1\n' });
});
