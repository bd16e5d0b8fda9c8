// Bad input is refused with ERR_INVALID_ARG before anything is created; a failure to start is
// a typed error with the failing step and errno, after which nothing is left behind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NsgroupsError, run, spawn, type SpawnOptions } from '../lib';
import { isRoot, itRootless } from './helpers/host';
import { childPids, fdTable, newFds, zombieChildren } from './helpers/proc';

function nothingCreated<T>(fn: () => T): T {
  const fds = fdTable();
  const children = childPids();
  const result = fn();
  expect(newFds(fds)).toEqual([]);
  expect(childPids()).toEqual(children);
  return result;
}

function invalid(command: unknown, args: unknown, options: unknown): NsgroupsError {
  return nothingCreated(() => {
    try {
      spawn(command as string, args as string[], options as SpawnOptions);
    } catch (err) {
      expect(err).toBeInstanceOf(NsgroupsError);
      expect((err as NsgroupsError).code).toBe('ERR_INVALID_ARG');
      return err as NsgroupsError;
    }
    throw new Error('spawn accepted bad input');
  });
}

describe('bad input', () => {
  const cases: Array<[string, unknown, unknown, unknown, RegExp]> = [
    ['a command that is not a string', 42, [], {}, /command must be a string/],
    ['an empty command', '', [], {}, /command must not be empty/],
    ['a NUL byte in the command', 'sh\0', [], {}, /NUL/],
    ['a NUL byte in an argument', 'sh', ['-c', 'a\0b'], {}, /args\[1\].*NUL/],
    ['args that are neither an array nor options', 'sh', 'no', undefined, /options must be an object/],
    ['args that are not an array, with options', 'sh', { length: 1 }, {}, /args must be an array/],
    ['a non-string argument', 'sh', [1], {}, /args\[0\] must be a string/],
    ['options that are not an object', 'sh', [], 'x', /options must be an object/],
    ['an unknown option, with a suggestion', 'sh', [], { namespace: ['pid'] }, /unknown option 'namespace' \(did you mean 'namespaces'\?\)/],
    ['a child_process option that does not apply', 'sh', [], { shell: true }, /'shell' is not supported/],
    ['an unknown namespace', 'sh', [], { namespaces: ['pidd'] }, /namespaces\[0\].*'pid'/],
    ['a namespace listed twice', 'sh', [], { namespaces: ['net', 'net'] }, /twice/],
    ['namespaces that is not an array', 'sh', [], { namespaces: 'pid' }, /namespaces must be an array/],
    ['network host with a new net namespace', 'sh', [], { namespaces: ['net'], network: 'host' }, /choose one/],
    ['an unknown network mode', 'sh', [], { network: 'bridge' }, /network must be one of/],
    ['init without a pid namespace', 'sh', [], { init: true }, /init needs a new pid namespace/],
    ['a time namespace without offsets', 'sh', [], { namespaces: ['time'] }, /time/],
    ['a hostname too long', 'sh', [], { hostname: 'x'.repeat(65) }, /longer than 64/],
    ['a NUL byte in the hostname', 'sh', [], { hostname: 'a\0' }, /NUL/],
    ['a NUL byte in cwd', 'sh', [], { cwd: '/tmp\0' }, /cwd.*NUL/],
    ['a cwd that is not a string', 'sh', [], { cwd: 7 }, /cwd must be a string/],
    ['an env name with =', 'sh', [], { env: { 'A=B': 'x' } }, /invalid variable name/],
    ['a NUL byte in an env value', 'sh', [], { env: { A: 'x\0' } }, /env.A.*NUL/],
    ['a bad stdio name', 'sh', [], { stdio: ['pipe', 'pipes'] }, /stdio\[1\].*did you mean 'pipe'/],
    ['a negative stdio fd', 'sh', [], { stdio: [-1] }, /stdio\[0\]/],
    ["'inherit' beyond fd 2", 'sh', [], { stdio: ['pipe', 'pipe', 'pipe', 'inherit'] }, /stdio\[3\]/],
    ['a negative uid', 'sh', [], { namespaces: ['user'], user: { uid: -1 } }, /user.uid/],
    ['a fractional gid', 'sh', [], { namespaces: ['user'], user: { gid: 1.5 } }, /user.gid must be an integer/],
    ['an unknown key in user', 'sh', [], { namespaces: ['user'], user: { name: 'root' } }, /unknown option 'name'/],
    ['a bad boolean', 'sh', [], { dieWithParent: 'yes' }, /dieWithParent must be true or false/],
  ];

  it.each(cases)('%s', (_label, command, args, options, message) => {
    expect(invalid(command, args, options).message).toMatch(message);
  });

  it('run() rejects the same way, creating nothing', async () => {
    const fds = fdTable();
    await expect(run('sh', [], { namespaces: ['nope'] } as unknown as SpawnOptions)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG',
    });
    // every Node BufferEncoding is fine (run.io.test.ts); one Node does not know is not
    await expect(run('sh', [], { encoding: 'utf9' } as unknown as SpawnOptions)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(newFds(fds)).toEqual([]);
  });

  it('kill() with an unknown signal', async () => {
    const p = spawn('sleep', ['5'], { stdio: 'ignore' });
    expect(() => p.kill('SIGNOPE' as NodeJS.Signals)).toThrow(/signal must be a signal name/);
    p.kill('SIGKILL');
    await p.exited;
  });
});

describe('failure to start', () => {
  async function failure(command: string, args: string[], options: SpawnOptions): Promise<NsgroupsError> {
    const fds = fdTable();
    const p = spawn(command, args, options);
    const events: string[] = [];
    for (const ev of ['spawn', 'exit', 'close']) p.on(ev, () => events.push(ev));
    const err = await new Promise<NsgroupsError>((resolve) => p.on('error', resolve));
    await expect(p.exited).rejects.toBe(err);
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual([]);
    expect(err).toBeInstanceOf(NsgroupsError);
    expect(zombieChildren()).toEqual([]);
    expect(childPids()).not.toContain(p.pid);
    expect(newFds(fds)).toEqual([]);
    return err;
  }

  const modes: Array<[string, SpawnOptions]> = [
    ['plain', {}],
    ['with the init', { namespaces: ['user', 'pid'] }],
  ];

  describe.each(modes)('%s', (_label, base) => {
    it('a command that does not exist: ERR_NOT_FOUND at step execve', async () => {
      const err = await failure('nsgroups-no-such-command', [], base);
      expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve', syscall: 'execve', errno: -2, path: 'nsgroups-no-such-command' });
      expect(err.message).toMatch(/executing 'nsgroups-no-such-command' failed: ENOENT.*PATH/);
    });

    it('an absolute path that does not exist', async () => {
      const err = await failure('/nonexistent/bin/x', [], base);
      expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', step: 'execve', path: '/nonexistent/bin/x' });
    });

    it('a file that is not executable: ERR_PERMISSION', async () => {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-noexec-')), 'script');
      fs.writeFileSync(file, 'echo hi\n', { mode: 0o644 });
      fs.chmodSync(path.dirname(file), 0o755);
      const err = await failure(file, [], base);
      expect(err).toMatchObject({ code: 'ERR_PERMISSION', step: 'execve', errno: -13 });
      fs.rmSync(path.dirname(file), { recursive: true });
    });

    it('a directory as the command', async () => {
      const err = await failure('/tmp', [], base);
      expect(err).toMatchObject({ step: 'execve', errno: -13 });
    });

    it('an executable with no format the kernel knows: ENOEXEC from execve', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-enoexec-'));
      fs.chmodSync(dir, 0o755);
      const file = path.join(dir, 'garbage');
      fs.writeFileSync(file, Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]), { mode: 0o755 });
      const err = await failure(file, [], base);
      expect(err).toMatchObject({ step: 'execve', errno: -8, code: 'ERR_SYSTEM' });
      expect(err.message).toMatch(/#!/);
      fs.rmSync(dir, { recursive: true });
    });

    it('a working directory that does not exist: step chdir', async () => {
      const err = await failure('true', [], { ...base, cwd: '/nonexistent-nsgroups-dir' });
      expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', step: 'chdir', syscall: 'chdir', path: '/nonexistent-nsgroups-dir' });
    });
  });

  itRootless('namespaces other than user need privilege: ERR_PERMISSION with the fix', async () => {
    // the child unshares the namespaces (all but a new user namespace are made after clone)
    const err = await failure('true', [], { namespaces: ['pid'] });
    expect(err).toMatchObject({ code: 'ERR_PERMISSION', syscall: 'unshare', step: 'unshare', errno: -1 });
    expect(err.message).toMatch(/add 'user' to namespaces/);
  });

  itRootless('switching to another user needs privilege: step setresgid', async () => {
    const err = await failure('true', [], { user: { uid: 0, gid: 0 } });
    expect(err).toMatchObject({ code: 'ERR_PERMISSION' });
    expect(err.step).toMatch(/^set(groups|resgid|resuid)$/);
    expect(err.message).toMatch(/needs root|user namespace/);
  });

  it('many failures in a row leave nothing behind', async () => {
    const fds = fdTable();
    for (let i = 0; i < 50; i++) {
      await expect(run('nsgroups-no-such-command', [], { namespaces: isRoot ? ['pid'] : ['user', 'pid'] })).rejects.toMatchObject({
        code: 'ERR_NOT_FOUND',
      });
    }
    expect(newFds(fds)).toEqual([]);
    expect(zombieChildren()).toEqual([]);
  });
});
