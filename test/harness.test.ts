// The test-runner integrations, run for real: each example under examples/ (node:test, jest with
// the environment and the helper, vitest with the fixture) passes and writes its per-test report
// lines; a failing test's sandbox is kept when asked ('on-failure') and its place printed; the
// report lines make a table (`nsgroups report`).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatTable, reportLine, type TestReportLine } from '../lib/harness/report';
import { makeWorkspace } from './helpers/sandboxes';

const repo = path.join(__dirname, '..');
const bin = (name: string): string => path.join(repo, 'node_modules', '.bin', name);
let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-harness-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(command, args, {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, NSGROUPS_KEEP: '', NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    timeout: 90000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function lines(file: string): TestReportLine[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TestReportLine);
}

const project = fs.realpathSync(path.join(repo, 'examples', 'project'));

describe('the examples (what CI runs)', () => {
  it('node:test: examples/node-test passes, writes a report line per test and prints the table', () => {
    const report = path.join(scratch, 'node-test.jsonl');
    const r = run(process.execPath, ['--test', 'examples/node-test/'], { NSGROUPS_REPORT: report });
    expect(r.out).toMatch(/# pass 4\n# fail 0/);
    expect(r.status).toBe(0);
    // one file after the other (node --test runs files in processes of their own)
    const got = lines(report).sort((x, y) => (x.file! < y.file! ? -1 : x.file! > y.file! ? 1 : 0));
    expect(got.map((l) => [l.test, l.status, l.leftoversKilled])).toEqual([
      ['the build writes into the sandbox, never into the project', 'passed', 0],
      ['a server started by one command answers the next', 'passed', 1],
      ['from a pool: the build writes into its sandbox only', 'passed', 0],
      ['from a pool: the next test has a sandbox of its own', 'passed', 0],
    ]);
    expect(got[2]).toMatchObject({ commands: 1, filesChanged: 3, file: path.join(repo, 'examples/node-test/pool.test.mjs') });
    expect(got[0]).toMatchObject({ v: 1, commands: 1, filesChanged: 3, file: path.join(repo, 'examples/node-test/app.test.mjs') });
    expect(got[1].leftovers).toEqual([expect.objectContaining({ command: 'node app.js serve 8080' })]);
    expect(r.out).toMatch(/nsgroups: 2 tests in sandboxes/); // a table per file
    expect(fs.existsSync(path.join(project, 'dist'))).toBe(false);
  }, 100000);

  it('jest: examples/jest passes (the environment and the helper); the environment writes its report lines', () => {
    const report = path.join(scratch, 'jest.jsonl');
    const r = run(process.execPath, [bin('jest'), '--config', 'examples/jest/jest.config.js', '--ci'], { NSGROUPS_REPORT: report });
    expect(r.out).toMatch(/Tests:\s+3 passed, 3 total/);
    expect(r.status).toBe(0);
    expect(lines(report).map((l) => [l.test, l.status])).toEqual([
      ['the build writes into the sandbox, never into the project', 'passed'],
      ['each test has a sandbox of its own: the last one left nothing', 'passed'],
    ]);
    expect(r.out).toMatch(/nsgroups: 2 tests in sandboxes/);
  }, 100000);

  it('vitest: examples/vitest passes (the fixture) and writes a report line per test', () => {
    const report = path.join(scratch, 'vitest.jsonl');
    const r = run(process.execPath, [bin('vitest'), 'run', '--root', 'examples/vitest'], { NSGROUPS_REPORT: report });
    expect(r.out).toMatch(/Tests\s+2 passed \(2\)/);
    expect(r.status).toBe(0);
    expect(lines(report).map((l) => [l.test, l.status, l.leftoversKilled])).toEqual([
      ['the build writes into the sandbox, never into the project', 'passed', 0],
      ['a server started by one command answers the next', 'passed', 1],
    ]);
  }, 100000);
});

describe("keep: 'on-failure'", () => {
  function keptPaths(out: string): string[] {
    return [...out.matchAll(/nsgroups: kept the sandbox of "([^"]+)" at (\S+)/g)].map((m) => `${m[1]}=${m[2]}`);
  }

  it.each([
    ['node:test, the option', process.execPath, ['--test', 'test/fixtures/harness/failing.fixture.mjs'], {}],
    [
      'jest, the environment and NSGROUPS_KEEP',
      process.execPath,
      [bin('jest'), '--config', 'test/fixtures/harness/jest.fixture.config.js', '--ci'],
      { NSGROUPS_KEEP: 'on-failure' },
    ],
    [
      'jest, the environment with a pool and NSGROUPS_KEEP',
      process.execPath,
      [bin('jest'), '--config', 'test/fixtures/harness/jest.fixture.config.js', '--ci'],
      { NSGROUPS_KEEP: 'on-failure', FIXTURE_POOL: '2' },
    ],
  ])(
    '%s: only the failing test’s sandbox is kept, with what it wrote, and its place is printed',
    (_what, command, args, env) => {
      const ws = makeWorkspace('keep');
      try {
        const r = run(command, args as string[], { FIXTURE_WORKSPACE: ws, ...env });
        expect(r.status).toBe(1);
        const kept = keptPaths(r.out);
        expect(kept).toEqual([expect.stringMatching(/^fails after writing=/)]);
        const dir = kept[0].split('=')[1];
        try {
          expect(fs.readFileSync(path.join(dir, 'upper', 'failing.txt'), 'utf8')).toBe('failing\n');
          expect(JSON.parse(fs.readFileSync(path.join(dir, 'changes.json'), 'utf8'))).toEqual([{ path: `${ws}/failing.txt`, kind: 'added' }]);
          expect(fs.existsSync(path.join(ws, 'failing.txt'))).toBe(false);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      } finally {
        fs.rmSync(ws, { recursive: true, force: true });
      }
    },
    100000,
  );
});

describe('jest environment', () => {
  it('a sandbox that cannot be made fails its test with the reason, and the test body does not run', () => {
    const ws = makeWorkspace('envfail');
    try {
      const r = run(process.execPath, [bin('jest'), '--config', 'test/fixtures/harness/jest.fixture.config.js', '--ci'], {
        FIXTURE_WORKSPACE: ws,
        FIXTURE_NETWORK: 'bogus',
      });
      expect(r.status).toBe(1);
      expect(r.out).toMatch(/Tests:\s+2 failed, 2 total/);
      expect(r.out).toMatch(/network must be one of 'none', 'loopback', 'host'/);
      expect(r.out).not.toMatch(/Expected: 2/); // the failing test's own expect never ran
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  }, 100000);

  it('with a pool, bad options fail the file at once with the reason', () => {
    const ws = makeWorkspace('envpoolfail');
    try {
      const r = run(process.execPath, [bin('jest'), '--config', 'test/fixtures/harness/jest.fixture.config.js', '--ci'], {
        FIXTURE_WORKSPACE: ws,
        FIXTURE_NETWORK: 'bogus',
        FIXTURE_POOL: '2',
      });
      expect(r.status).toBe(1);
      expect(r.out).toMatch(/Test suite failed to run/);
      expect(r.out).toMatch(/network must be one of 'none', 'loopback', 'host'/);
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  }, 100000);
});

describe('the report lines and the table', () => {
  const line = (test: string, extra: Partial<TestReportLine> = {}): TestReportLine => ({
    ...reportLine(
      {
        name: test,
        durationMs: 41.2,
        cpuMs: 5.1,
        memoryPeakBytes: 2.5 * 1024 * 1024,
        oomKills: 0,
        commandCpuMs: 4.2,
        statuses: { ok: 1 },
        processes: 3,
        commands: 1,
        leftovers: [],
        filesChanged: 1,
        cgroup: 'sandboxes-1-0/sb-1-abc',
        kept: null,
        disposed: true,
      },
      { test, file: '/t/x.test.js', failed: false },
    ),
    ...extra,
  });

  it('formatTable: a row per test, and what stands out (leftovers killed, kept sandboxes)', () => {
    const table = formatTable([
      line('writes stay inside'),
      line('leaves a daemon', {
        status: 'failed',
        leftovers: [{ pid: 42, sandboxPid: 5, command: 'sleep 1000' }],
        leftoversKilled: 1,
        kept: '/tmp/k',
        cpuMs: null,
        memoryPeakBytes: null,
      }),
    ]);
    expect(table.split('\n')).toEqual([
      'nsgroups: 2 tests in sandboxes',
      '         time   cpu  peak mem  procs  leftovers  files  test',
      '  ok    41 ms  5 ms   2.5 MiB      3          0      1  writes stay inside',
      '  FAIL  41 ms     -         -      3          1      1  leaves a daemon',
      '  leaves a daemon: killed sleep 1000 (pid 42)',
      '  leaves a daemon: kept at /tmp/k',
      '',
    ]);
  });

  it('nsgroups report FILE prints the table of a whole run; --failed only the failures', () => {
    const file = path.join(scratch, 'all.jsonl');
    fs.writeFileSync(file, [line('a'), line('b', { status: 'failed' })].map((l) => JSON.stringify(l)).join('\n') + '\n');
    const all = run(process.execPath, [path.join(repo, 'dist', 'cli.cjs'), 'report', file]);
    expect(all.status).toBe(0);
    expect(all.out).toMatch(/^nsgroups: 2 tests in sandboxes\n/);
    const failed = run(process.execPath, [path.join(repo, 'dist', 'cli.cjs'), 'report', '--failed', file]);
    expect(failed.out).toMatch(/^nsgroups: 1 test in sandboxes\n.*\n {2}FAIL .* b\n$/);
    fs.appendFileSync(file, 'not json\n');
    expect(run(process.execPath, [path.join(repo, 'dist', 'cli.cjs'), 'report', file])).toMatchObject({
      status: 1,
      out: expect.stringMatching(/all.jsonl:3 is not a JSON line/),
    });
  });
});
