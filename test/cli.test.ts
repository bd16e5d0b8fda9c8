// The CLI, run as users run it: a separate process, its exit status and output.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseRunArgs } from '../lib/cli/run';
import { isRoot, itRoot, itRootless } from './helpers/host';

const cli = path.join(__dirname, '..', 'dist', 'cli.cjs');
const nsgroups = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000 });

describe('nsgroups run', () => {
  it('runs a command in a sandbox with the default namespaces, and prints through', () => {
    const r = nsgroups('run', '--hostname', 'cli-box', '--', 'sh', '-c', 'echo "pid $$ on $(hostname) as uid $(id -u)"; readlink /proc/self/ns/net');
    expect(r.status).toBe(0);
    const [line, net] = r.stdout.trim().split('\n');
    expect(line).toBe('pid 2 on cli-box as uid 0');
    expect(net).not.toBe(require('node:fs').readlinkSync('/proc/self/ns/net'));
  });

  it('exits with the command status, 128+n for a signal', () => {
    expect(nsgroups('run', '--', 'sh', '-c', 'exit 42').status).toBe(42);
    expect(nsgroups('run', '--', 'sh', '-c', 'kill -TERM $$').status).toBe(143);
    expect(nsgroups('run', '--', 'sh', '-c', 'kill -KILL $$').status).toBe(137);
    // pid 1 of a namespace ignores a SIGKILL from inside it (pid_namespaces(7)): the init matters
    expect(nsgroups('run', '--no-init', '--', 'sh', '-c', 'kill -KILL $$; exit 3').status).toBe(3);
  });

  it('127 for a command not found, with the reason', () => {
    const r = nsgroups('run', '--', 'nsgroups-no-such-command');
    expect(r.status).toBe(127);
    expect(r.stderr).toMatch(/nsgroups: executing 'nsgroups-no-such-command' failed: ENOENT/);
  });

  it('options: --net none, --env, --clear-env, --cwd, --user, --tmpfs, --timeout', () => {
    const r = nsgroups('run', '--net', 'none', '--clear-env', '--env', 'A=1', '--cwd', '/tmp', '--user', '7:8', '--tmpfs', '/mnt:1M', '--',
      'sh', '-c', 'ip -o link show lo | grep -c "state DOWN"; env | sort | tr "\\n" " "; pwd; id -u; id -g; df -k /mnt | tail -1 | awk "{print \\$2}"');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['1', 'A=1 PWD=/tmp /tmp', '7', '8', '1024']);
    const t = nsgroups('run', '--timeout', '0.2', '--', 'sleep', '30');
    expect(t.status).toBe(143);
  });

  it('--ns none runs without namespaces', () => {
    const r = nsgroups('run', '--ns', 'none', '--', 'readlink', '/proc/self/ns/user');
    expect(r.stdout.trim()).toBe(require('node:fs').readlinkSync('/proc/self/ns/user'));
  });

  it('bad usage exits 2 or 125 with a message', () => {
    expect(nsgroups('run').status).toBe(125);
    expect(nsgroups('run', '--bogus', '--', 'true').status).toBe(2);
    const r = nsgroups('run', '--ns', 'user,bogus', '--', 'true');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/unknown namespace 'bogus'/);
    expect(nsgroups('frobnicate').status).toBe(2);
  });

  it('parses --join, --bind and --map-range into spawn options', () => {
    const parsed = parseRunArgs(['--join', '/proc/1/ns/net', '--bind', '/a:/b:ro', '--map-range', '0:100000:65536', '--', 'true']);
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

describe('nsgroups run: limits and roots made for the run', () => {
  itRoot('--memory/--pids/--cpus: a cgroup for this run, in force, removed after', () => {
    const script = 'grep -E ":(memory|pids):" /proc/self/cgroup | cut -d: -f3 | sort -u; ' +
      'd=$(grep ":memory:" /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/memory$d/memory.limit_in_bytes /sys/fs/cgroup/pids$(grep ":pids:" /proc/self/cgroup | cut -d: -f3)/pids.max';
    const r = nsgroups('run', '--ns', 'none', '--memory', '64M', '--pids', '16', '--cpus', '0.5', '--', 'sh', '-c', script);
    expect(r.stderr).toBe('');
    const [cg, mem, pids] = r.stdout.trim().split('\n');
    expect(cg).toMatch(/\/nsgroups\/run-\d+$/);
    expect([mem, pids]).toEqual(['67108864', '16']);
    expect(require('node:fs').existsSync(`/sys/fs/cgroup/memory${cg}`)).toBe(false);
  });

  it('--overlay: a throw-away copy-on-write root, gone after the run', () => {
    const fs = require('node:fs') as typeof import('node:fs');
    const os = require('node:os') as typeof import('node:os');
    const lower = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-cli-lower-'));
    fs.chmodSync(lower, 0o755);
    fs.mkdirSync(path.join(lower, 'bin'));
    fs.copyFileSync('/bin/busybox', path.join(lower, 'bin/busybox'));
    for (const a of ['sh', 'cat']) fs.symlinkSync('busybox', path.join(lower, 'bin', a));
    fs.writeFileSync(path.join(lower, 'greeting'), 'hello\n');
    try {
      const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('nsgroups-run-'));
      const r = nsgroups('run', '--overlay', lower, '--env', 'PATH=/bin', '--', 'sh', '-c', 'cat /greeting; echo changed > /greeting; cat /greeting');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hello\nchanged\n');
      expect(fs.readFileSync(path.join(lower, 'greeting'), 'utf8')).toBe('hello\n');
      expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('nsgroups-run-'))).toEqual(before);
    } finally {
      fs.rmSync(lower, { recursive: true });
    }
  });

  itRootless('rootless --memory needs a delegated cgroup: a clear error, exit 125', () => {
    const r = nsgroups('run', '--memory', '64M', '--', 'true');
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/Delegate=/);
  });
});

describe('nsgroups ls', () => {
  it("lists namespaces like lsns, and nsgroups' cgroups with their processes", async () => {
    const r = nsgroups('ls');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^\s*NS TYPE\s+NPROCS\s+PID USER\s+COMMAND/);
    expect(r.stdout).toContain(`${require('node:fs').statSync('/proc/self/ns/net').ino} net`);
    expect(r.stdout).toMatch(/cgroups of nsgroups/);
  });

  itRoot('a running sandbox in a cgroup shows up in the tree with its processes', async () => {
    const { Cgroup, spawn } = await import('../lib');
    const cg = await Cgroup.create(`ls-test-${process.pid}`, { pids: { max: 16 } });
    const p = spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    await new Promise((resolve) => p.once('spawn', resolve));
    try {
      const r = JSON.parse(nsgroups('ls', '--json').stdout) as { cgroups: Array<{ name: string; procs: Array<{ pid: number; command: string }> }> };
      const node = r.cgroups.find((c) => c.name === `ls-test-${process.pid}`);
      expect(node?.procs).toEqual([{ pid: p.pid, command: 'sleep' }]);
    } finally {
      p.kill('SIGKILL');
      await p.exited;
      await cg.delete();
    }
  });
});

describe('nsgroups doctor', () => {
  it('prints what this host supports, probed', () => {
    const r = nsgroups('doctor');
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.stdout).toMatch(/^kernel \d+\.\d+/);
    // this host (Debian 12, kernel 6.18) has all of these
    for (const feature of ['clone3', 'pidfd', 'time namespaces', 'overlayfs inside a user namespace', 'cgroup.kill', 'freeze']) {
      expect(r.stdout).toMatch(new RegExp(`yes  ${feature}`));
    }
    expect(r.stdout).toMatch(/yes  for this caller \(probed\)/);
    expect(r.stdout).toMatch(/^cgroups: hybrid \(cgroup2 at \/sys\/fs\/cgroup\/unified\)$/m);
    expect(r.stdout).toMatch(isRoot ? /yes  born in the cgroup \(CLONE_INTO_CGROUP\)/ : /NO   born in the cgroup[^]*no cgroup of ours/);
  });

  it('--json is capabilities() itself', () => {
    const r = nsgroups('doctor', '--json');
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const c = JSON.parse(r.stdout);
    expect(c.kernel.release).toBe(require('node:os').release());
    expect(c.userNamespaces.caller.supported).toBe(true);
    expect(typeof c.userNamespaces.sysctls.maxUserNamespaces).toBe('number');
    expect(isRoot || c.userNamespaces.unprivileged.supported).toBe(true);
  });
});
