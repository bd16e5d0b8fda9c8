// Pipelines, as child_process users build them: a stream of one process as the stdio of the next,
// between sandboxes, from and to child_process, from process.stdin. Node's own ends are
// O_NONBLOCK; the command must get blocking stdio (libuv's uv__process_child_init clears it), and
// the parent must stop reading a stream it handed over. The kernel says which: /proc/PID/fdinfo.
import { execFileSync, spawn as cpSpawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { spawn, type SandboxProcess } from '../lib';

const NS = ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] as const;
const sandbox = { namespaces: [...NS] };
const O_NONBLOCK = 0o4000;

function fdFlags(pid: number | 'self', fd: number): number {
  return parseInt(/^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1], 8);
}

function text(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    stream.on('data', (d: Buffer) => (out += d));
    stream.once('end', () => resolve(out));
    stream.once('error', reject);
  });
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-pipeline-'));
  fs.chmodSync(tmp, 0o755);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('stdio handed over from Node streams is blocking in the command', () => {
  it('a child_process pipe (O_NONBLOCK in Node) reaches the command without O_NONBLOCK', async () => {
    const producer = cpSpawn('sh', ['-c', 'sleep 0.3; seq 1000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const producerExit = once(producer, 'exit');
    const fd = (producer.stdout as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fdFlags('self', fd) & O_NONBLOCK).toBe(O_NONBLOCK); // libuv's end, as Node made it
    const p = spawn('sh', ['-c', 'grep ^flags /proc/self/fdinfo/0; wc -l'], { ...sandbox, stdio: [producer.stdout, 'pipe', 'pipe'] });
    const [out] = await Promise.all([text(p.stdout!), p.exited]);
    const [flags, count] = out.trim().split('\n');
    expect(parseInt(flags.split(/\s+/)[1], 8) & O_NONBLOCK).toBe(0);
    expect(count.trim()).toBe('1000'); // all of it: the parent stopped reading what it handed over
    await producerExit;
  });

  it('child_process → sandbox → child_process: tr and wc as child_process has them', async () => {
    // seq is done at once: child_process would then read the rest of its stdout (flushStdio),
    // unless the stream handed over is no longer readable for it
    const seq = cpSpawn('seq', ['1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const tr = spawn('tr', ['0-9', 'a-j'], { ...sandbox, stdio: [seq.stdout, 'pipe', 'pipe'] });
    const wc = cpSpawn('wc', ['-l'], { stdio: [tr.stdout!, 'pipe', 'inherit'] });
    const [count, trExit, trErr] = await Promise.all([text(wc.stdout!), tr.exited, text(tr.stderr!)]);
    expect(trErr).toBe(''); // no "Resource temporarily unavailable"
    expect(trExit).toMatchObject({ code: 0, status: 'ok' });
    expect(count.trim()).toBe('1000');
  });

  it("process.stdin (a pipe Node made non-blocking) as the command's stdin", () => {
    const lib = JSON.stringify(path.join(__dirname, 'fixtures/lib.js'));
    const script =
      `const p = require(${lib}).spawn('sh', ['-c', 'tr a-z A-Z | wc -l'], { stdio: [process.stdin, 'pipe', 'inherit'], namespaces: ${JSON.stringify(NS)} });` +
      `p.stdout.pipe(process.stdout); p.exited.then((e) => { process.exitCode = e.code; });`;
    const input = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
    const out = execFileSync(process.execPath, ['-e', script], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    expect(out.trim()).toBe('1000');
  });
});

describe('a pipeline of three sandboxes', () => {
  it('moves 10 MB intact, and every stage ends with exit and close', async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const file = path.join(tmp, 'data');
    fs.writeFileSync(file, data);
    fs.chmodSync(file, 0o644);
    const a = spawn('cat', [file], { ...sandbox, stdio: ['ignore', 'pipe', 'inherit'] });
    const b = spawn('cat', [], { ...sandbox, stdio: [a.stdout, 'pipe', 'inherit'] });
    const c = spawn('sh', ['-c', 'tee /dev/stderr | sha256sum; '], { ...sandbox, stdio: [b.stdout, 'pipe', 'pipe'] });
    const closes = (p: SandboxProcess) => once(p, 'close');
    const sizeSeen = new Promise<number>((resolve) => {
      let n = 0;
      c.stderr!.on('data', (d: Buffer) => (n += d.length));
      c.stderr!.once('end', () => resolve(n));
    });
    const [sum, n, ...exits] = await Promise.all([text(c.stdout!), sizeSeen, a.exited, b.exited, c.exited, closes(a), closes(b), closes(c)]);
    expect(n).toBe(data.length);
    expect(sum.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect(exits.slice(0, 3).map((e) => (e as { status: string }).status)).toEqual(['ok', 'ok', 'ok']);
  });
});
