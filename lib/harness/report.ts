// What the test-runner integrations share: ending a test's sandbox (kept when the test failed and
// the sandbox says 'on-failure'), and the per-test report — one JSON line per test appended to
// the file NSGROUPS_REPORT names (or the jest environment's `report` option), and a short table
// of this process's tests at the end. The line format is docs/harness.md's; `v` is its version.
import * as fs from 'node:fs';
import type { CommandStatuses, LeftoverProcess, SandboxReport } from '../sandbox/report';
import type { Sandbox } from '../sandbox/sandbox';

export interface TestReportLine {
  v: 1;
  /** the test's full name, as the runner gives it ("suite > test" for jest and vitest) */
  test: string;
  /** the test file, when the runner says */
  file: string | null;
  status: 'passed' | 'failed';
  /** the sandbox's lifetime: from create() (before the test's body) to the end of dispose() */
  durationMs: number;
  cpuMs: number | null;
  memoryPeakBytes: number | null;
  oomKills: number | null;
  /** the commands' own CPU (rusage), with or without a cgroup */
  commandCpuMs: number;
  /** the commands counted by status ({ ok: 2, timeout: 1 }) */
  statuses: CommandStatuses;
  processes: number | null;
  commands: number;
  leftovers: LeftoverProcess[];
  leftoversKilled: number;
  filesChanged: number | null;
  cgroup: boolean;
  kept: string | null;
  /** when the test ended, ISO 8601 */
  at: string;
}

export interface TestOutcome {
  test: string;
  file: string | null;
  failed: boolean;
}

/** The report file: the option, else NSGROUPS_REPORT; null when reports are off. */
export function reportFile(option?: string | null): string | null {
  const file = option ?? process.env.NSGROUPS_REPORT;
  return file ? file : null;
}

export function reportLine(r: SandboxReport, outcome: TestOutcome): TestReportLine {
  return {
    v: 1,
    test: outcome.test,
    file: outcome.file,
    status: outcome.failed ? 'failed' : 'passed',
    durationMs: r.durationMs,
    cpuMs: r.cpuMs,
    memoryPeakBytes: r.memoryPeakBytes,
    oomKills: r.oomKills,
    commandCpuMs: r.commandCpuMs,
    statuses: r.statuses,
    processes: r.processes,
    commands: r.commands,
    leftovers: r.leftovers,
    leftoversKilled: r.leftovers.length,
    filesChanged: r.filesChanged,
    cgroup: r.cgroup !== null,
    kept: r.kept,
    at: new Date().toISOString(),
  };
}

/**
 * Disposes of a test's sandbox (told whether the test failed) and, when reports are on, appends
 * its line to `file` (one write with O_APPEND: lines of parallel workers do not interleave).
 */
export async function finishTest(sb: Sandbox, outcome: TestOutcome, file: string | null, lines?: TestReportLine[]): Promise<TestReportLine> {
  await sb.dispose({ failed: outcome.failed });
  const line = reportLine(sb.report(), outcome);
  if (file !== null) {
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
    lines?.push(line);
  }
  return line;
}

function size(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)} ms`);
const count = (v: number | null): string => (v === null ? '-' : String(v));

/** The table: one row per test, then what stands out (leftovers killed, kept sandboxes). */
export function formatTable(lines: readonly TestReportLine[]): string {
  const head = ['', 'time', 'cpu', 'peak mem', 'procs', 'leftovers', 'files', 'test'];
  const rows = lines.map((l) => [
    l.status === 'passed' ? 'ok' : 'FAIL',
    ms(l.durationMs),
    ms(l.cpuMs),
    size(l.memoryPeakBytes),
    count(l.processes),
    String(l.leftoversKilled),
    count(l.filesChanged),
    l.test,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]): string =>
    '  ' + r.map((c, i) => (i === r.length - 1 ? c : i >= 1 && i <= 6 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const out = [`nsgroups: ${lines.length} test${lines.length === 1 ? '' : 's'} in sandboxes`, fmt(head), ...rows.map(fmt)];
  for (const l of lines) {
    if (l.leftoversKilled > 0) out.push(`  ${l.test}: killed ${l.leftovers.map((p) => `${p.command} (pid ${p.pid})`).join(', ')}`);
    if (l.kept) out.push(`  ${l.test}: kept at ${l.kept}`);
  }
  return out.join('\n') + '\n';
}

let atExit: TestReportLine[] | null = null;

/** The lines of this process's tests, printed as a table to stderr when it exits. */
export function linesPrintedAtExit(): TestReportLine[] {
  if (!atExit) {
    const lines: TestReportLine[] = (atExit = []);
    process.on('exit', () => {
      if (lines.length > 0) process.stderr.write(formatTable(lines));
    });
  }
  return atExit;
}

/** The name of a test the runner has not named (a sandbox made outside a test). */
export function unnamed(name: string | null | undefined): string {
  return name && name.length > 0 ? name : '(unnamed test)';
}
