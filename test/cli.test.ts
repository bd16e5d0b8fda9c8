// The CLI, run as users run it: a separate process, its exit status and output.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseRunArgs } from '../lib/cli/run';
import { isRoot } from './helpers/host';

const cli = path.join(__dirname, '..', 'dist', 'cli.cjs');
const nsgroups = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20000 });

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

describe('nsgroups doctor', () => {
  it('prints what this host supports, probed', () => {
    const r = nsgroups('doctor');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^kernel \d+\.\d+/);
    // this host (Debian 12, kernel 6.18) has all of these
    for (const feature of ['clone3', 'pidfd', 'time namespaces', 'overlayfs inside a user namespace']) {
      expect(r.stdout).toMatch(new RegExp(`yes  ${feature}`));
    }
    expect(r.stdout).toMatch(/yes  for this caller \(probed\)/);
  });

  it('--json is capabilities() itself', () => {
    const c = JSON.parse(nsgroups('doctor', '--json').stdout);
    expect(c.kernel.release).toBe(require('node:os').release());
    expect(c.userNamespaces.caller.supported).toBe(true);
    expect(typeof c.userNamespaces.sysctls.maxUserNamespaces).toBe('number');
    expect(isRoot || c.userNamespaces.unprivileged.supported).toBe(true);
  });
});
