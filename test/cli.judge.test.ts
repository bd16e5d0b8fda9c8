// nsgroups run as a judge runs it: --cpu-time, --wall-time/--timeout with --kill-after,
// --output-limit, --memory, and --meta FILE|- (isolate-style key:value, or --json). The CLI in its
// own process; its exit status, its output, and the meta file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nsgroupsAsync } from './helpers/cli';
import { itRoot } from './helpers/host';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-cli-judge-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function meta(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.trim().split('\n')) {
    const at = line.indexOf(':');
    out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

describe('nsgroups run: judge limits and the meta file', () => {
  it('--cpu-time: a busy loop is killed, exit 124, meta says TO / cpuTime with the times', async () => {
    const file = path.join(tmp, 'cpu.meta');
    const r = await nsgroupsAsync('run', '--cpu-time', '0.3', '--meta', file, '--', 'sh', '-c', 'while :; do :; done');
    expect(r.status).toBe(124);
    const m = meta(fs.readFileSync(file, 'utf8'));
    expect(m).toMatchObject({ status: 'TO', verdict: 'cpuTime', killed: '1', exitsig: '9', message: 'Time limit exceeded' });
    expect(Number(m.time)).toBeGreaterThanOrEqual(0.3);
    expect(Number(m.time)).toBeLessThan(1);
    expect(Number(m['time-wall'])).toBeGreaterThanOrEqual(Number(m.time) * 0.9);
    for (const k of ['max-rss', 'csw-voluntary', 'csw-forced']) expect(m[k]).toMatch(/^\d+$/);
  });

  it('--wall-time and --kill-after: SIGTERM ignored, SIGKILL after; exit 124; --meta - --json on stdout after the output', async () => {
    // "ready" says the trap was in place before SIGTERM came; a host too busy for the shell to get
    // there in time gets a longer wall time (the run tested nothing)
    for (const wall of [0.3, 1, 4]) {
      const started = Date.now();
      const r = await nsgroupsAsync(
        'run',
        '--wall-time',
        String(wall),
        '--kill-after',
        '0.3',
        '--meta',
        '-',
        '--json',
        'sh',
        '-c',
        'trap "" TERM; echo ready; sleep 30 & wait; sleep 30',
      );
      expect(r.status).toBe(124);
      expect(Date.now() - started).toBeLessThan(wall * 1000 + 10000);
      const [first, json] = r.stdout.split('\n');
      if (first !== 'ready' && wall < 4) continue;
      expect(first).toBe('ready');
      const m = JSON.parse(json) as { status: string; signal: string; usage: { wallMs: number } };
      expect(m).toMatchObject({ status: 'timeout', signal: 'SIGKILL' });
      expect(m.usage.wallMs).toBeGreaterThanOrEqual(wall * 1000 + 300);
      return;
    }
  });

  it('--output-limit: stdout cut at SIZE bytes, the command stopped, verdict output', async () => {
    const file = path.join(tmp, 'out.meta');
    const r = await nsgroupsAsync('run', '--output-limit', '1K', '--meta', file, 'yes');
    expect(r.stdout.length).toBe(1024);
    expect(r.stdout).toBe('y\n'.repeat(512));
    expect(r.status).toBe(143); // the command's own end: SIGTERM
    expect(meta(fs.readFileSync(file, 'utf8'))).toMatchObject({ verdict: 'output', killed: '1', status: 'SG', message: 'Output limit exceeded' });
  });

  it('a plain run: no status line (OK), the exit code; RE for a non-zero exit', async () => {
    const ok = await nsgroupsAsync('run', '--meta', '-', 'true');
    expect(ok.status).toBe(0);
    const m = meta(ok.stdout);
    expect(m).toMatchObject({ exitcode: '0', verdict: 'ok' });
    expect(m.status).toBeUndefined();
    const re = await nsgroupsAsync('run', '--meta', '-', 'sh', '-c', 'exit 3');
    expect(re.status).toBe(3);
    expect(meta(re.stdout)).toMatchObject({ exitcode: '3', status: 'RE', verdict: 'exit', message: 'Exited with error status 3' });
  });

  it('a command that never ran: status XX, verdict setup, exit 127', async () => {
    const r = await nsgroupsAsync('run', '--meta', '-', 'nsgroups-no-such-command');
    expect(r.status).toBe(127);
    expect(meta(r.stdout)).toMatchObject({ status: 'XX', verdict: 'setup' });
    expect(r.stderr).toMatch(/ENOENT/);
  });

  itRoot("--memory: a hog is OOM-killed in the run's cgroup: cg-oom-killed, cg-mem at the limit, verdict memory", async () => {
    const r = await nsgroupsAsync('run', '--memory', '64M', '--pids', '32', '--meta', '-', process.execPath, '-e', 'Buffer.alloc(512 * 1024 * 1024, 1)');
    expect(r.status).toBe(137);
    const m = meta(r.stdout);
    expect(m).toMatchObject({ 'cg-oom-killed': '1', verdict: 'memory', status: 'SG', 'cg-mem-scope': 'run' });
    expect(Number(m['cg-mem'])).toBeGreaterThan(48 * 1024);
    expect(Number(m['cg-mem'])).toBeLessThanOrEqual(64 * 1024);
  });

  const usage: Array<[string[], RegExp]> = [
    [['--cpu-time', '0', 'true'], /^nsgroups run: --cpu-time 0: '0' is not a number of seconds of at least 0.001$/],
    [['--cpu-time', 'x', 'true'], /^nsgroups run: --cpu-time x: 'x' is not a number of seconds/],
    [['--extra-time', '1', 'true'], /^nsgroups run: --extra-time applies to --cpu-time/],
    [['--output-limit', 'lots', 'true'], /^nsgroups run: --output-limit lots: 'lots' is not a size/],
    [['--json', 'true'], /^nsgroups run: --json applies to --meta/],
    [['--wall-time', '-1', 'true'], /^nsgroups run: --wall-time -1: '-1' is not a number of seconds$/],
    [['--meta'], /^nsgroups run: option '--meta' needs a value \(FILE\)$/],
  ];
  it.concurrent.each(usage)('usage error %j: exit 2, one line', async (args, message) => {
    const r = await nsgroupsAsync('run', ...args);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(message);
  });
});
