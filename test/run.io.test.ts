// run()'s input and output as child_process users expect them: every Node BufferEncoding, input as
// a string, a Buffer, a TypedArray, a Readable stream or a file (handed over as fd 0: /proc says
// what the command reads from), and stdio streams typed non-null where they are pipes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { run, spawn } from '../lib';

const sandbox = { namespaces: ['user', 'pid', 'mount', 'uts', 'ipc', 'net'] as Array<'user' | 'pid' | 'mount' | 'uts' | 'ipc' | 'net'> };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-io-'));
  fs.chmodSync(tmp, 0o755);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('encoding: every Node BufferEncoding, and buffer', () => {
  // bytes that differ in every encoding: ASCII, a high byte, a UTF-8 sequence (é), an odd count
  const bytes = Buffer.from([0x41, 0x62, 0xff, 0x00, 0xc3, 0xa9, 0x7a]);
  const printf = bytes.reduce((s, b) => s + `\\${b.toString(8).padStart(3, '0')}`, '');
  const encodings: BufferEncoding[] = ['utf8', 'utf-8', 'utf16le', 'utf-16le', 'ucs2', 'ucs-2', 'latin1', 'binary', 'base64', 'base64url', 'hex', 'ascii'];

  it.each(encodings)('%s: stdout and stderr as Buffer#toString gives them', async (encoding) => {
    const r = await run('sh', ['-c', `printf '${printf}'; printf '${printf}' >&2`], { ...sandbox, encoding });
    expect(r.stdout).toBe(bytes.toString(encoding));
    expect(r.stderr).toBe(bytes.toString(encoding));
  });

  it("'buffer' and null give Buffers; anything else is ERR_INVALID_ARG", async () => {
    for (const encoding of ['buffer', null] as const) {
      const r = await run('sh', ['-c', `printf '${printf}'`], { ...sandbox, encoding });
      expect(Buffer.isBuffer(r.stdout)).toBe(true);
      expect(r.stdout.equals(bytes)).toBe(true);
    }
    await expect(run('true', [], { encoding: 'utf9' as BufferEncoding })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/encoding/),
    });
  });
});

describe('input', () => {
  const data = 'line one\nline two\n';

  it('a string, a Buffer, a Uint8Array and a DataView', async () => {
    for (const input of [data, Buffer.from(data), new Uint8Array(Buffer.from(data)), new DataView(Uint8Array.from(Buffer.from(data)).buffer)]) {
      const r = await run('sha256sum', [], { ...sandbox, input });
      expect(r.stdout).toBe((await run('sha256sum', [], { input: data })).stdout);
    }
  });

  it('a Readable stream, piped in (one made from chunks, and a file stream)', async () => {
    const chunks = Readable.from(['a\n', 'b\n', 'c\n']);
    expect((await run('wc', ['-l'], { ...sandbox, input: chunks })).stdout.trim()).toBe('3');
    const file = path.join(tmp, 'lines');
    fs.writeFileSync(file, 'x\n'.repeat(5000));
    expect((await run('wc', ['-l'], { ...sandbox, input: fs.createReadStream(file) })).stdout.trim()).toBe('5000');
  });

  it('{ file }: the command reads the file itself as fd 0 (no pipe, no copy through us), by path or URL', async () => {
    const file = path.join(tmp, 'input.txt');
    fs.writeFileSync(file, data);
    fs.chmodSync(file, 0o644);
    for (const given of [file, pathToFileURL(file)]) {
      const r = await run('sh', ['-c', 'readlink /proc/self/fd/0; cat'], { ...sandbox, input: { file: given } });
      expect(r.stdout).toBe(`${file}\n${data}`);
    }
  });

  it('a stream input that fails rejects the run; input with stdio[0] other than a pipe is ERR_INVALID_ARG', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await expect(run('cat', [], { ...sandbox, input: failing })).rejects.toThrow('disk on fire');
    await expect(run('cat', [], { input: 'x', stdio: ['inherit', 'pipe', 'pipe'] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/stdio\[0\]/),
    });
    await expect(run('cat', [], { input: 42 as unknown as string })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('stdio streams typed non-null where they are pipes (tsc checks this file)', () => {
  it('default stdio: stdin, stdout, stderr without a non-null assertion', async () => {
    const p = spawn('tr', ['a-z', 'A-Z'], sandbox);
    const out: string[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d.toString()));
    p.stderr.resume();
    p.stdin.end('shout\n');
    await new Promise((res) => p.once('close', res));
    expect(out.join('')).toBe('SHOUT\n');
  });

  it('a tuple types each: a pipe is a stream, anything else is null', async () => {
    const p = spawn('sh', ['-c', 'echo out; echo err >&2'], { ...sandbox, stdio: ['ignore', 'pipe', 'ignore'] });
    const stdin: null = p.stdin;
    const stderr: null = p.stderr;
    expect([stdin, stderr]).toEqual([null, null]);
    // @ts-expect-error stdin is typed null with stdio[0] 'ignore': it has no write()
    expect(() => p.stdin.write('x')).toThrow(TypeError);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    await new Promise((res) => p.once('close', res));
    expect(out).toBe('out\n');
  });
});
