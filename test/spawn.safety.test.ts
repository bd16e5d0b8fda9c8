// Safety defaults: no fd but stdio reaches the command, the command dies with its Node parent,
// and a shutting-down environment (a worker, process.exit) kills and reaps what it spawned.
import { spawn as cpSpawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { run, type SpawnOptions } from '../lib';
import { itRoot } from './helpers/host';
import { childPids, processState, waitFor, zombieChildren } from './helpers/proc';

const fixtures = path.join(__dirname, 'fixtures');
const sandboxed: SpawnOptions = { namespaces: ['user', 'pid', 'mount', 'net'] };

function gone(pid: number): boolean {
  const state = processState(pid);
  return state === null; // not even a zombie: reaped
}

/** Dead: exited, reaped or not (an orphan's zombie waits for the host's init, which is slow here). */
function dead(pid: number): boolean {
  const state = processState(pid);
  return state === null || state === 'Z';
}

describe('no fd leaks into the command', () => {
  it.each([
    ['plain', {}],
    ['sandboxed', sandboxed],
  ])('%s: only 0-2 even when the parent holds fds without close-on-exec', (_label, options) => {
    // child_process gives the fixture fds 3..5 without close-on-exec: exactly the kind that
    // leaks through a naive fork+exec.
    const out = execFileSync(process.execPath, [path.join(fixtures, 'list-fds.js'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    const { inherited, sandbox } = JSON.parse(out) as { inherited: number[]; sandbox: number[] };
    expect(inherited).toEqual(expect.arrayContaining([3, 4, 5]));
    // 0-2, plus the fd `ls` itself opens to read the directory
    expect(sandbox.filter((fd) => fd > 2).length).toBeLessThanOrEqual(1);
    expect(sandbox).toEqual(expect.arrayContaining([0, 1, 2]));
  });

  it('from this process too (the extra fds of a test runner)', async () => {
    const r = await run('sh', ['-c', 'ls /proc/$$/fd'], sandboxed);
    expect(r.stdout.trim().split('\n').map(Number).sort()).toEqual([0, 1, 2]);
  });
});

/** A Node process that spawns `sleep 60` in a sandbox with `options`; resolves with both pids. */
async function sandboxInAnotherNode(options: object): Promise<{ fixture: ReturnType<typeof cpSpawn>; pid: number }> {
  const fixture = cpSpawn(process.execPath, [path.join(fixtures, 'spawn-and-report.js'), JSON.stringify({ command: 'sleep', args: ['60'], options })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pid = await new Promise<number>((resolve, reject) => {
    fixture.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    fixture.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  return { fixture, pid };
}

describe('the command dies with its parent', () => {
  it.each([
    ['plain', {}],
    ['with the init', sandboxed],
    ['plain, as a grandchild that was spawned by a killed Node', { namespaces: ['user'] }],
  ])('%s: SIGKILL of the Node parent kills the sandbox', async (_label, options) => {
    const { fixture, pid } = await sandboxInAnotherNode(options);
    expect(processState(pid)).not.toBeNull();
    fixture.kill('SIGKILL');
    await waitFor(() => dead(pid), 5000, `sandbox ${pid} to die with its parent`);
  });

  itRoot('even after the sandbox changed its ids (which clears the parent-death signal; it is set again)', async () => {
    // uid 1000 inside a range is uid 101000 outside: a real credential change in the child
    const range = [{ inside: 0, outside: 100000, count: 65536 }];
    const options = { namespaces: ['user'], uidMap: range, gidMap: range, user: { uid: 1000, gid: 1000 } };
    const { fixture, pid } = await sandboxInAnotherNode(options);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\t101000\t/m);
    fixture.kill('SIGKILL');
    await waitFor(() => dead(pid), 5000, `sandbox ${pid} (uid 101000) to die with its parent`);
  });

  it('process.exit() in the parent ends the sandbox even with dieWithParent: false', async () => {
    const script =
      `const { spawn } = require(${JSON.stringify(path.join(fixtures, 'lib.js'))});` +
      `const p = spawn('sleep', ['60'], { dieWithParent: false, stdio: 'ignore', namespaces: ['user', 'pid'] });` +
      `p.on('spawn', () => { console.log(p.pid); process.exit(0); });`;
    const pid = Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim());
    await waitFor(() => dead(pid), 5000, `sandbox ${pid} to be ended by the exiting parent`);
  });
});

describe('worker threads', () => {
  it('a worker can spawn and run sandboxes', async () => {
    const worker = new Worker(path.join(fixtures, 'worker.js'), { workerData: { mode: 'run', options: sandboxed } });
    const msg = await new Promise<{ code: number; stdout: string }>((resolve) => worker.once('message', resolve));
    expect(msg).toEqual({ code: 9, stdout: '2\n' });
    await worker.terminate();
  });

  it("a terminated worker's sandboxes are killed and reaped", async () => {
    const before = childPids();
    const worker = new Worker(path.join(fixtures, 'worker.js'), { workerData: { mode: 'hold', options: sandboxed } });
    const { pid } = await new Promise<{ pid: number }>((resolve) => worker.once('message', resolve));
    expect(childPids()).toContain(pid); // the worker's children are this process's children
    await worker.terminate();
    await waitFor(() => gone(pid), 5000, `sandbox ${pid} of the terminated worker to be reaped`);
    expect(zombieChildren()).toEqual([]);
    expect(childPids()).toEqual(before);
  });

  it('spawns on the main thread are unaffected by a worker ending', async () => {
    const worker = new Worker(path.join(fixtures, 'worker.js'), { workerData: { mode: 'hold', options: {} } });
    await new Promise((resolve) => worker.once('message', resolve));
    const main = run('sh', ['-c', 'sleep 0.2; echo alive'], sandboxed);
    await worker.terminate();
    await expect(main).resolves.toMatchObject({ code: 0, stdout: 'alive\n' });
  });
});

describe('coexistence with child_process', () => {
  it('child_process exits and ours are both delivered when interleaved', async () => {
    const ours = Array.from({ length: 10 }, (_, i) => run('sh', ['-c', `exit ${i}`], sandboxed));
    const theirs = Array.from(
      { length: 10 },
      (_, i) => new Promise<number | null>((resolve) => cpSpawn('sh', ['-c', `exit ${i}`]).once('exit', (code) => resolve(code))),
    );
    expect((await Promise.all(ours)).map((r) => r.code)).toEqual([...Array(10).keys()]);
    expect(await Promise.all(theirs)).toEqual([...Array(10).keys()]);
  });

  it('a file the test has open is not visible as an fd in the sandbox', async () => {
    const fd = fs.openSync(__filename, 'r');
    try {
      const r = await run('sh', ['-c', `readlink /proc/$$/fd/${fd} || echo none`], sandboxed);
      expect(r.stdout.trim()).toBe('none');
    } finally {
      fs.closeSync(fd);
    }
  });
});
