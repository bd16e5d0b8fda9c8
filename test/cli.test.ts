// The CLI, run as users run it (a separate process: its exit status and output), and its
// conventions: options stop at the command, --help/--version, exit 2 and one line for every
// usage error, messages in CLI terms, the exit statuses of env(1)/timeout(1).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRunArgs } from '../lib/cli/run';
import { nsgroups, nsgroupsAsync } from './helpers/cli';
import { itRoot, itRootless } from './helpers/host';

const version = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

describe('nsgroups run: options stop at the command', () => {
  it('run ls -l / hands -l to ls', () => {
    const r = nsgroups('run', 'ls', '-l', '/');
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/^total \d+\n/);
    // the sandbox has no root of its own: the same entries as the host's /
    const names = r.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) =>
        l
          .split(/\s+/)
          .slice(8)
          .join(' ')
          .replace(/ -> .*/, ''),
      );
    expect(names.sort()).toEqual(
      fs
        .readdirSync('/')
        .filter((n) => !n.startsWith('.'))
        .sort(),
    );
  });

  it("what follows the command is the command's, even when it looks like ours", () => {
    const r = nsgroups('run', '--hostname', 'box', 'sh', '-c', 'echo "$(hostname) $1 $2"', 'sh', '--hostname', 'x');
    expect(r.stdout).toBe('box --hostname x\n');
  });

  it("'--' before the command still works, and --opt=value as well as --opt value", () => {
    expect(nsgroups('run', '--hostname=eq', '--', 'hostname').stdout).toBe('eq\n');
    expect(nsgroups('run', '--', 'sh', '-c', 'echo -n ok').stdout).toBe('ok');
  });

  it('parses --join, --bind and --map-range into spawn options', () => {
    const parsed = parseRunArgs(['--join', '/proc/1/ns/net', '--bind', '/a:/b:ro', '--map-range', '0:100000:65536', 'true']);
    expect(parsed).toMatchObject({
      command: 'true',
      options: {
        join: ['/proc/1/ns/net'],
        namespaces: ['user', 'pid', 'mount', 'uts', 'ipc'], // the joined net replaces the new one
        mounts: [{ type: 'bind', source: '/a', target: '/b', readonly: true }],
        uidMap: [{ inside: 0, outside: 100000, count: 65536 }],
      },
    });
  });
});

describe('nsgroups --version and --help', () => {
  it('--version (and -V) print the package version', () => {
    for (const flag of ['--version', '-V']) {
      const r = nsgroups(flag);
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: `nsgroups ${version}\n`, stderr: '' });
    }
  });

  it('every command has --help on stdout, exit 0; run --help documents the exit statuses', () => {
    for (const args of [['--help'], ['help'], ['help', 'run'], ['run', '--help'], ['doctor', '--help'], ['ls', '--help'], ['gc', '--help'], ['run', '-h']]) {
      const r = nsgroups(...args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: '' });
      expect(r.stdout).toMatch(/^usage: nsgroups/);
    }
    const run = nsgroups('run', '--help').stdout;
    for (const status of ['124', '125', '126', '127', '128+N', '2 ']) expect(run).toContain(status);
    expect(nsgroups('--help').stdout).toContain('exit status of run');
  });
});

describe('usage errors: exit 2, one line, a pointer to --help', () => {
  const long = 'a'.repeat(70);
  const cases: Array<[string[], RegExp]> = [
    [[], /^nsgroups: no command given$/],
    [['--bogus'], /^nsgroups: unknown option '--bogus'$/],
    [['frobnicate'], /^nsgroups: unknown command 'frobnicate'$/],
    [['help', 'frobnicate'], /^nsgroups: unknown command 'frobnicate'$/],
    [['--version', 'x'], /^nsgroups: --version takes no arguments$/],
    [['run'], /^nsgroups run: no command given/],
    [['run', '--bogus', 'true'], /^nsgroups run: unknown option '--bogus'$/],
    [['run', '-x', 'true'], /^nsgroups run: unknown option '-x'$/],
    [['run', '--hostname'], /^nsgroups run: option '--hostname' needs a value \(NAME\)$/],
    [['run', '--readonly=yes', 'true'], /^nsgroups run: option '--readonly' takes no value$/],
    [['run', '--ns', 'user,bogus', 'true'], /^nsgroups run: --ns user,bogus: unknown namespace 'bogus'/],
    [['run', '--net', 'bogus', 'true'], /^nsgroups run: --net bogus: 'bogus' is not none, loopback or host$/],
    [['run', '--memory', '12Q', 'true'], /^nsgroups run: --memory 12Q: '12Q' is not a size/],
    [['run', '--tmpfs', '/mnt:xx', 'true'], /^nsgroups run: --tmpfs \/mnt:xx: 'xx' is not a size/],
    [['run', '--pids', 'x', 'true'], /^nsgroups run: --pids x: 'x' is not a number$/],
    [['run', '--cpus', '0', 'true'], /^nsgroups run: --cpus 0: '0' is not a number of CPUs/],
    [['run', '--timeout', '-1', 'true'], /^nsgroups run: --timeout -1: '-1' is not a number of seconds$/],
    [['run', '--user', '0:x', 'true'], /^nsgroups run: --user 0:x: 'x' is not a gid$/],
    [['run', '--map-range', '1:2', 'true'], /^nsgroups run: --map-range 1:2: wants INSIDE:OUTSIDE:COUNT$/],
    [['run', '--bind', '/tmp', 'true'], /^nsgroups run: --bind \/tmp: wants SRC:DST or SRC:DST:ro$/],
    [['run', '--env', '=x', 'true'], /^nsgroups run: --env =x: wants NAME=VALUE$/],
    [['run', '--rootfs', '/', '--overlay', '/', 'true'], /^nsgroups run: --rootfs and --overlay: choose one$/],
    [['run', '--readonly', 'true'], /^nsgroups run: --readonly applies to a root/],
    // caught by the library's own validation, said in CLI terms
    [['run', '--hostname', long, 'true'], /^nsgroups run: --hostname a+…: longer than 64 bytes$/],
    [['run', '--ns', 'net', '--join', '/proc/self/ns/net', 'true'], /^nsgroups run: the net namespace is both new \(--ns\) and joined \(--join\)/],
    [['doctor', '--wat'], /^nsgroups doctor: unknown option '--wat'$/],
    [['doctor', 'overlay'], /^nsgroups doctor: unexpected argument 'overlay'/],
    [['doctor', '--check', 'bogus'], /^nsgroups doctor: unknown feature 'bogus'/],
    [['ls', '--wat'], /^nsgroups ls: unknown option '--wat'$/],
    [['ls', 'extra'], /^nsgroups ls: unexpected argument 'extra'$/],
    [['ls', '-t', 'bogus'], /^nsgroups ls: -t: unknown namespace type 'bogus'/],
    [['ls', '-o', 'pid,nope'], /^nsgroups ls: -o: unknown column 'nope'/],
    [['ls', '-p', 'x'], /^nsgroups ls: -p: 'x' is not a pid$/],
    [['ls', '--json', '--tree'], /^nsgroups ls: --json and --tree: choose one$/],
    [['gc', '--wat'], /^nsgroups gc: unknown option '--wat'$/],
    [['gc', 'extra'], /^nsgroups gc: unexpected argument 'extra'$/],
  ];
  // independent processes: run side by side (jest's maxConcurrency, 5)
  it.concurrent.each(cases)('%j', async (args, message) => {
    const r = await nsgroupsAsync(...args);
    const lines = r.stderr.split('\n').filter(Boolean);
    const who = /^(nsgroups(?: \w+)?):/.exec(lines[0] ?? '')?.[1];
    expect({ status: r.status, stdout: r.stdout, lines: lines.length }).toEqual({ status: 2, stdout: '', lines: 2 });
    expect(lines[0]).toMatch(message);
    expect(lines[0]).not.toMatch(/options\.|nsgroups: nsgroups/);
    expect(lines[1]).toBe(`Try '${who} --help' for more information.`);
  });
});

describe('nsgroups run: failures in CLI terms, exit 125', () => {
  const missing = `/nonexistent-${process.pid}`;
  const cases: Array<[string[], string]> = [
    [['--bind', `${missing}:/mnt`], `nsgroups run: --bind ${missing}:/mnt: '${missing}' does not exist`],
    [['--bind', `/tmp:${missing}`], `nsgroups run: --bind /tmp:${missing}: '${missing}' does not exist`],
    [['--rootfs', missing], `nsgroups run: --rootfs ${missing}: '${missing}' does not exist`],
    [['--join', missing], `nsgroups run: --join ${missing}: cannot open the namespace '${missing}' (ENOENT)`],
  ];
  it.concurrent.each(cases)('%j', async (args, message) => {
    const r = await nsgroupsAsync('run', ...args, 'true');
    expect(r.status).toBe(125);
    expect(r.stderr.split('\n')[0]).toContain(message);
    expect(r.stderr).not.toMatch(/options\./);
  });
});

describe('nsgroups run: exit status', () => {
  it('runs a command in a sandbox with the default namespaces, and prints through', () => {
    const r = nsgroups('run', '--hostname', 'cli-box', 'sh', '-c', 'echo "pid $$ on $(hostname) as uid $(id -u)"; readlink /proc/self/ns/net');
    expect(r.status).toBe(0);
    const [line, net] = r.stdout.trim().split('\n');
    expect(line).toBe('pid 2 on cli-box as uid 0');
    expect(net).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
  });

  it("the command's status, 128+N for a signal", () => {
    expect(nsgroups('run', 'sh', '-c', 'exit 42').status).toBe(42);
    expect(nsgroups('run', 'sh', '-c', 'kill -TERM $$').status).toBe(143);
    expect(nsgroups('run', 'sh', '-c', 'kill -KILL $$').status).toBe(137);
    // pid 1 of a namespace ignores a SIGKILL from inside it (pid_namespaces(7)): the init matters
    expect(nsgroups('run', '--no-init', 'sh', '-c', 'kill -KILL $$; exit 3').status).toBe(3);
  });

  it('127 for a command not found, 126 for one that cannot be executed, with the reason', () => {
    const notFound = nsgroups('run', 'nsgroups-no-such-command');
    expect(notFound.status).toBe(127);
    expect(notFound.stderr).toMatch(/^nsgroups run: executing 'nsgroups-no-such-command' failed: ENOENT/);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-cli-')), 'not-executable');
    fs.writeFileSync(file, 'echo hi\n', { mode: 0o644 });
    fs.chmodSync(path.dirname(file), 0o755);
    try {
      const r = nsgroups('run', file);
      expect(r.status).toBe(126);
      expect(r.stderr).toMatch(/EACCES/);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true });
    }
  });

  it('124 when --timeout expires (the command got SIGTERM), as timeout(1)', () => {
    const started = Date.now();
    expect(nsgroups('run', '--timeout', '0.3', 'sleep', '30').status).toBe(124);
    expect(Date.now() - started).toBeLessThan(10000);
    // even when the command exits 0 on SIGTERM; and not when it ends in time
    expect(nsgroups('run', '--timeout', '0.3', 'sh', '-c', 'trap "exit 0" TERM; sleep 30 & wait').status).toBe(124);
    expect(nsgroups('run', '--timeout', '20', 'sh', '-c', 'exit 5').status).toBe(5);
  });

  it('options: --net none, --env, --clear-env, --cwd, --user, --tmpfs', () => {
    const r = nsgroups(
      'run',
      '--net',
      'none',
      '--clear-env',
      '--env',
      'A=1',
      '--cwd',
      '/tmp',
      '--user',
      '7:8',
      '--tmpfs',
      '/mnt:1M',
      'sh',
      '-c',
      'ip -o link show lo | grep -c "state DOWN"; env | sort | tr "\\n" " "; pwd; id -u; id -g; df -k /mnt | tail -1 | awk "{print \\$2}"',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['1', 'A=1 PWD=/tmp /tmp', '7', '8', '1024']);
  });

  it('--ns none runs without namespaces', () => {
    const r = nsgroups('run', '--ns', 'none', 'readlink', '/proc/self/ns/user');
    expect(r.stdout.trim()).toBe(fs.readlinkSync('/proc/self/ns/user'));
  });
});

describe('nsgroups run: limits and roots made for the run', () => {
  itRoot('--memory/--pids/--cpus: a cgroup for this run, in force, removed after', () => {
    const script =
      'grep -E ":(memory|pids):" /proc/self/cgroup | cut -d: -f3 | sort -u; ' +
      'd=$(grep ":memory:" /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/memory$d/memory.limit_in_bytes /sys/fs/cgroup/pids$(grep ":pids:" /proc/self/cgroup | cut -d: -f3)/pids.max';
    const r = nsgroups('run', '--ns', 'none', '--memory', '64M', '--pids', '16', '--cpus', '0.5', 'sh', '-c', script);
    expect(r.stderr).toBe('');
    const [cg, mem, pids] = r.stdout.trim().split('\n');
    expect(cg).toMatch(/\/nsgroups\/run-\d+$/);
    expect([mem, pids]).toEqual(['67108864', '16']);
    expect(fs.existsSync(`/sys/fs/cgroup/memory${cg}`)).toBe(false);
  });

  it('--overlay: a throw-away copy-on-write root, gone after the run', () => {
    const lower = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-cli-lower-'));
    fs.chmodSync(lower, 0o755);
    fs.mkdirSync(path.join(lower, 'bin'));
    fs.copyFileSync('/bin/busybox', path.join(lower, 'bin/busybox'));
    for (const a of ['sh', 'cat']) fs.symlinkSync('busybox', path.join(lower, 'bin', a));
    fs.writeFileSync(path.join(lower, 'greeting'), 'hello\n');
    try {
      const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('nsgroups-run-'));
      const r = nsgroups('run', '--overlay', lower, '--env', 'PATH=/bin', 'sh', '-c', 'cat /greeting; echo changed > /greeting; cat /greeting');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello\nchanged\n');
      expect(fs.readFileSync(path.join(lower, 'greeting'), 'utf8')).toBe('hello\n');
      expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('nsgroups-run-'))).toEqual(before);
    } finally {
      fs.rmSync(lower, { recursive: true });
    }
  });

  itRootless('rootless --memory needs a delegated cgroup: a clear error, exit 125', () => {
    const r = nsgroups('run', '--memory', '64M', 'true');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^nsgroups run: cannot create cgroups/);
    expect(r.stderr).toMatch(/Delegate=/);
  });
});
