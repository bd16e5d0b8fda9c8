// stdio in every form, environment, working directory, argv0, signal state of the command.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { run, spawn } from '../lib';

const sandboxes = [
  ['plain', {}],
  ['sandboxed', { namespaces: ['user', 'pid', 'mount', 'net', 'ipc', 'uts'] }],
] as const;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-stdio-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each(sandboxes)('stdio (%s)', (_label, base) => {
  const opts = { ...base, namespaces: 'namespaces' in base ? [...base.namespaces] : undefined };

  it("'pipe': stdout and stderr apart, stdin in", async () => {
    const r = await run('sh', ['-c', 'read line; echo "out:$line"; echo "err:$line" >&2'], { ...opts, input: 'hello\n' });
    expect(r).toMatchObject({ code: 0, stdout: 'out:hello\n', stderr: 'err:hello\n' });
  });

  it('large output is read completely', async () => {
    const r = await run('sh', ['-c', 'head -c 3000000 /dev/zero | tr "\\0" x'], opts);
    expect(r.stdout.length).toBe(3000000);
  });

  it("encoding: 'buffer' gives Buffers", async () => {
    const r = await run('printf', ['\\377\\000\\001'], { ...opts, encoding: 'buffer' });
    expect(Buffer.isBuffer(r.stdout)).toBe(true);
    expect([...r.stdout]).toEqual([255, 0, 1]);
  });

  it("'ignore' is /dev/null", async () => {
    const script = 'a=$(readlink /proc/$$/fd/0); b=$(readlink /proc/$$/fd/1); echo "$a $b" >&2';
    const r = await run('sh', ['-c', script], { ...opts, stdio: ['ignore', 'ignore', 'pipe'] });
    expect(r.stderr).toBe('/dev/null /dev/null\n');
  });

  it('a file descriptor, a stream with one, and an extra fd 3', async () => {
    const outFile = path.join(tmp, `out-${Math.random()}`);
    const extraFile = path.join(tmp, `extra-${Math.random()}`);
    const out = fs.openSync(outFile, 'w');
    const extra = fs.createWriteStream(extraFile);
    await new Promise((r) => extra.once('open', r));
    try {
      const r = await run('sh', ['-c', 'echo to-stdout; echo to-stderr >&2; echo to-three >&3'], {
        ...opts,
        stdio: ['ignore', out, out, extra as unknown as { fd: number }],
      });
      expect(r.code).toBe(0);
    } finally {
      fs.closeSync(out);
      await new Promise((r) => extra.end(r));
    }
    expect(fs.readFileSync(outFile, 'utf8')).toBe('to-stdout\nto-stderr\n');
    expect(fs.readFileSync(extraFile, 'utf8')).toBe('to-three\n');
  });

  it("'inherit' hands the command our own fds 0-2", () => {
    // In another Node process whose stdout is a pipe we read: what the sandbox writes lands there.
    const script =
      `require(${JSON.stringify(path.join(__dirname, 'fixtures/lib.js'))})` +
      `.run('sh', ['-c', 'echo inherited; echo on-stderr >&2'], { stdio: 'inherit', namespaces: ${JSON.stringify(opts.namespaces ?? [])} })`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('inherited\n');
  });

  it('stdout and stderr end before close; exit comes first', async () => {
    const p = spawn('sh', ['-c', 'echo a; echo b >&2'], opts);
    const seen: string[] = [];
    p.stdout!.on('end', () => seen.push('stdout end'));
    p.stderr!.on('end', () => seen.push('stderr end'));
    p.stdout!.resume();
    p.stderr!.resume();
    p.on('exit', () => seen.push('exit'));
    await new Promise((r) => p.once('close', r));
    expect(seen).toContain('exit');
    expect(seen.slice(-1)[0]).not.toBe(undefined);
    expect(seen.filter((s) => s.endsWith('end'))).toHaveLength(2);
  });
});

describe('environment, cwd, argv0', () => {
  it('env replaces the environment entirely', async () => {
    const r = await run('env', [], { env: { FOO: 'bar', EMPTY: '' }, namespaces: ['user', 'pid'] });
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['EMPTY=', 'FOO=bar']);
  });

  it('the default environment is ours', async () => {
    const r = await run('sh', ['-c', 'echo "$HOME|$PATH"']);
    expect(r.stdout.trim()).toBe(`${process.env.HOME ?? ''}|${process.env.PATH ?? ''}`);
  });

  it("PATH is looked up in the command's env", async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'bin-'));
    fs.writeFileSync(path.join(dir, 'hello-nsgroups'), '#!/bin/sh\necho found me\n', { mode: 0o755 });
    const r = await run('hello-nsgroups', [], { env: { PATH: `/nonexistent:${dir}` }, namespaces: ['user'] });
    expect(r.stdout).toBe('found me\n');
  });

  it('cwd: a path, a file: URL, a relative path', async () => {
    expect((await run('pwd', [], { cwd: tmp, namespaces: ['user', 'mount'] })).stdout.trim()).toBe(tmp);
    expect((await run('pwd', [], { cwd: pathToFileURL(tmp) })).stdout.trim()).toBe(tmp);
    const rel = path.relative(process.cwd(), tmp);
    expect((await run('pwd', [], { cwd: rel })).stdout.trim()).toBe(tmp);
  });

  it('a relative command is found relative to cwd', async () => {
    fs.writeFileSync(path.join(tmp, 'rel.sh'), '#!/bin/sh\necho relative\n', { mode: 0o755 });
    const r = await run('./rel.sh', [], { cwd: tmp });
    expect(r.stdout).toBe('relative\n');
  });

  it('argv0', async () => {
    const r = await run('sh', ['-c', 'tr "\\0" " " < /proc/$$/cmdline'], { argv0: 'custom-name' });
    expect(r.stdout.startsWith('custom-name -c ')).toBe(true);
  });

  it('the command starts with default signal dispositions and an empty mask (Node ignores SIGPIPE)', async () => {
    for (const namespaces of [[], ['user', 'pid']] as const) {
      const r = await run('grep', ['-E', '^Sig(Ign|Blk):', '/proc/self/status'], { namespaces: [...namespaces] });
      expect(r.stdout).toBe('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
    }
  });

  it('a new session, no controlling terminal', async () => {
    const r = await run('sh', ['-c', 'ps -o sid= -p $$; echo $$'], {});
    const [sid, pid] = r.stdout
      .trim()
      .split('\n')
      .map((s) => s.trim());
    expect(sid).toBe(pid);
  });
});
