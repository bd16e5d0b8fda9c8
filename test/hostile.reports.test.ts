// A hostile command against the library's report channel. The channel is sealed: no process
// of a sandbox holds a descriptor of the library's once the command runs (the init has none at
// all), so forging through any fd the command can reach changes nothing. And the parent treats
// every record as untrusted: given the report pipe on purpose (the tests-only reportFdForTests),
// a command that writes forged, malformed, oversized or out-of-order records fails only its own
// sandbox, with a typed error; it never signals another process, never changes `pid`, never
// crashes Node. The kernel is the oracle: /proc of the victim and of the sandbox's processes.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { once } from 'node:events';
import { NsgroupsError, spawn, type SandboxProcess, type SpawnOptions } from '../lib';
import { native } from '../lib/native';
import { resolveSpawn } from '../lib/spawn/options';
import { spawnResolved } from '../lib/spawn/process';
import { itRoot } from './helpers/host';
import { initOf } from './helpers/sandbox';
import { waitFor } from './helpers/proc';

const K = { error: 1, request: 2, childPid: 3 };
const MAGIC = 0x7273676e;

function record(kind: number, step: number, err: number, index: number, value: number, magic = MAGIC): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(kind, 4);
  b.writeInt32LE(step, 8);
  b.writeInt32LE(err, 12);
  b.writeInt32LE(index, 16);
  b.writeInt32LE(value, 20);
  return b;
}

/** The bytes as a printf(1) format: \ooo escapes for every byte. */
const printable = (b: Buffer): string => [...b].map((x) => '\\' + x.toString(8).padStart(3, '0')).join('');

let victim: ChildProcess;
beforeAll(async () => {
  victim = spawnChild('sleep', ['1000'], { stdio: 'ignore' });
  await once(victim, 'spawn');
});
afterAll(() => {
  victim.kill('SIGKILL');
});

/** The victim, by the kernel's word: running (not a zombie, not gone). */
function victimAlive(): boolean {
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${victim.pid}/stat`, 'utf8')) && victim.exitCode === null && victim.signalCode === null;
  } catch {
    return false;
  }
}

/** Every forged record the tests write: pids of the victim in both roles, every kind, garbage. */
function forgeries(): Buffer {
  const v = victim.pid!;
  return Buffer.concat([
    record(K.childPid, 10, 0, 1, v),
    record(K.childPid, 10, 0, 0, v),
    record(K.request, 6, 0, -1, 1),
    record(K.request, 7, 0, -1, 2),
    record(K.error, 20, 13, -1, 0),
    record(5, 0, 0, -1, v), // the old CHILD_PID kind
    record(3, 30, 0, -1, 0x0900), // the old STATUS kind: "killed by SIGKILL"
    record(K.error, 0, 0, 0, 0, 0xdeadbeef),
  ]);
}

const SANDBOXES: Array<[string, SpawnOptions, boolean]> = [
  ['user, pid, mount, net', { namespaces: ['user', 'pid', 'mount', 'net'] }, false],
  ['pid and mount without a user namespace (root)', { namespaces: ['pid', 'mount'] }, true],
  ['a joined pid namespace (one more fork)', {}, false],
];

describe('the channel is sealed: nothing of the library is reachable from the command', () => {
  for (const [name, options, rootOnly] of SANDBOXES) {
    (rootOnly ? itRoot : it)(`${name}: the init holds no fd, the command only its stdio`, async () => {
      let holder: SandboxProcess | undefined;
      let opts = options;
      if (name.startsWith('a joined')) {
        holder = spawn('sleep', ['1000'], { namespaces: ['user', 'pid'], stdio: 'ignore' });
        await once(holder, 'spawn');
        opts = { join: [`/proc/${holder.pid}/ns/user`, `/proc/${holder.pid}/ns/pid`] };
      }
      try {
        const p = spawn('sleep', ['1000'], { ...opts, stdio: ['ignore', 'ignore', 'ignore'] });
        await once(p, 'spawn');
        const init = initOf(p.pid!);
        const fds = (pid: number): string[] => fs.readdirSync(`/proc/${pid}/fd`).sort();
        expect(fds(init)).toEqual([]); // the init (the holder's, when joined) holds none at all
        // sleep opens its locale files while it starts: wait until it sleeps with what it keeps
        await waitFor(() => fds(p.pid!).length === 3, 2000, 'the command to settle').catch(() => {});
        expect(fds(p.pid!).map((fd) => `${fd} ${fs.readlinkSync(`/proc/${p.pid}/fd/${fd}`)}`)).toEqual(['0 /dev/null', '1 /dev/null', '2 /dev/null']);
        expect(fs.readFileSync(`/proc/${init}/cmdline`, 'utf8')).toBe('nsgroups-init\0');
        p.kill('SIGKILL');
        expect(await p.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
        if (!holder) expect(fs.existsSync(`/proc/${init}`)).toBe(false); // the sandbox's init went with it
      } finally {
        holder?.kill('SIGKILL');
        await holder?.exited;
      }
    });
  }
});

it("the init has exec'd before the command starts: pid 1 is never a copy of Node (100 sandboxes look at once)", async () => {
  // the command's first act: what is pid 1 made of, and what does it hold? With every capability
  // kept, so that only the order of the spawn stands between it and the answer (without them,
  // ptrace access to pid 1 is refused anyway: see hostile.privileges.test.ts)
  const script = 'readlink /proc/1/exe; ls /proc/1/fd | wc -l; grep -c node /proc/1/maps';
  const results = await Promise.all(
    Array.from({ length: 100 }, () =>
      import('../lib').then(({ run }) => run('sh', ['-c', script], { namespaces: ['user', 'pid', 'mount'], capabilities: 'all' })),
    ),
  );
  for (const r of results) {
    const [exe, fds, nodeMaps] = r.stdout.trim().split('\n');
    expect(exe).toMatch(/^\/memfd:nsgroups-init/);
    expect(fds).toBe('0');
    expect(nodeMaps).toBe('0');
  }
});

describe('forging through every fd the command can reach changes nothing', () => {
  for (const [name, options, rootOnly] of SANDBOXES.slice(0, 2)) {
    (rootOnly ? itRoot : it)(name, async () => {
      // every fd of every process it can see (its own stdio among them: what it writes there
      // reaches us as output, which is its right), forged records and 4 KiB of zeros to each
      const script =
        'n=0; for f in /proc/[0-9]*/fd/* /proc/self/fd/*; do ' +
        '  printf "$FORGED" 2>/dev/null > "$f" && n=$((n+1)); ' +
        '  head -c 4096 /dev/zero 2>/dev/null > "$f"; ' +
        'done; echo "RESULT wrote=$n init_fds=$(ls /proc/1/fd | wc -l)"; exit 7';
      const p = spawn('sh', ['-c', script], {
        ...options,
        env: { PATH: process.env.PATH, FORGED: printable(forgeries()) },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
      await once(p, 'spawn');
      const pid = p.pid;
      const exit = await p.exited;
      expect(exit).toMatchObject({ code: 7, signal: null }); // the command's own status, not a forged one
      expect(p.pid).toBe(pid);
      expect(victimAlive()).toBe(true);
      expect(out).toMatch(/RESULT wrote=[1-9]\d* init_fds=0\n/); // it wrote where it could; pid 1 has no fd
    });
  }
});

describe('records the parent did not expect fail only their own sandbox', () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a pid report naming another process', record(K.childPid, 10, 0, 1, 0), /pid report out of place|not our child/],
    ['a pid report naming our own victim', Buffer.alloc(0), /pid report out of place|not our child/],
    ['a bad magic', record(K.error, 20, 13, -1, 0, 0x1234), /malformed/],
    ['an unknown kind', record(9, 0, 0, -1, 0), /malformed/],
    ['a request the plan never makes', record(K.request, 6, 0, -1, 1), /unexpected report/],
    ['an error record out of range', record(K.error, 9999, 13, -1, 0), /malformed error report/],
    ['a piece of a record', record(K.error, 20, 13, -1, 0).subarray(0, 10), /malformed/],
    ['4 KiB of garbage', Buffer.alloc(4096, 0xff), /malformed|too many/],
    ['twenty well-formed error records', Buffer.concat(Array.from({ length: 20 }, () => record(K.error, 20, 13, -1, 0))), /too many|EACCES/],
  ];
  const layouts: Array<[string, SpawnOptions, boolean]> = [
    ['with an init', { namespaces: ['user', 'pid', 'mount'] }, false],
    ['without namespaces', {}, false],
    ['a root sandbox without a user namespace', { namespaces: ['pid', 'mount'] }, true],
  ];
  for (const [layout, options, rootOnly] of layouts) {
    for (const [name, bytes, message] of cases) {
      (rootOnly ? itRoot : it)(`${layout}: ${name}`, async () => {
        const data = name.includes('own victim') ? record(K.childPid, 10, 0, 1, victim.pid!) : bytes;
        const spec = resolveSpawn('sh', ['-c', 'printf "$FORGED" >&3; exec 3>&-; sleep 0.2; exit 0'], {
          ...options,
          env: { PATH: process.env.PATH, FORGED: printable(data) },
          stdio: 'ignore',
        });
        const p = spawnResolved(spec, { reportFdForTests: 3 });
        const started = p.pid;
        const err = await p.exited.then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NsgroupsError);
        expect((err as NsgroupsError).message).toMatch(message);
        expect(['ERR_SYSTEM', 'ERR_PERMISSION']).toContain((err as NsgroupsError).code);
        expect(p.pid === started || p.pid !== victim.pid).toBe(true);
        expect(p.pid).not.toBe(victim.pid);
        expect(victimAlive()).toBe(true);
      });
    }
  }

  it('after all of that, this Node process still spawns normally', async () => {
    const { run } = await import('../lib');
    expect(await run('sh', ['-c', 'echo $$'], { namespaces: ['user', 'pid'] })).toMatchObject({ code: 0, stdout: '2\n' });
    expect(native().constants.violations.malformed).toBe(1);
  });
});
