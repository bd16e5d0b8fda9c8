// `nsgroups report FILE...`: the table of the per-test report lines that the test-runner
// integrations appended (NSGROUPS_REPORT; docs/harness.md), for a whole run — every worker and
// test process wrote to the same file. --failed shows only the tests that failed.
import * as fs from 'node:fs';
import { formatTable, type TestReportLine } from '../harness/report';
import { formatOptions, parseArgs, UsageError, type OptionSpec } from './args';

const OPTIONS: OptionSpec[] = [
  { long: 'failed', help: 'only the tests that failed' },
  { long: 'help', short: 'h', help: 'this text' },
];

export const REPORT_USAGE = `usage: nsgroups report [--failed] FILE...

Prints a table of the per-test sandbox reports in FILE (JSON lines, as the node:test helper, the
jest environment and the vitest fixture append them to the file NSGROUPS_REPORT names): time,
CPU, peak memory, processes, leftovers killed and files changed, per test.

options:
${formatOptions(OPTIONS)}`;

export async function report(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, OPTIONS, false);
  if (options.some((o) => o.spec.long === 'help')) {
    console.log(REPORT_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('no report file given');
  const failedOnly = options.some((o) => o.spec.long === 'failed');
  const lines: TestReportLine[] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      console.error(`nsgroups report: cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`);
      return 1;
    }
    for (const [i, raw] of text.split('\n').entries()) {
      if (raw.trim() === '') continue;
      let line: TestReportLine;
      try {
        line = JSON.parse(raw) as TestReportLine;
      } catch {
        console.error(`nsgroups report: ${file}:${i + 1} is not a JSON line`);
        return 1;
      }
      if (line.v !== 1) {
        console.error(`nsgroups report: ${file}:${i + 1} is a report line of version ${String(line.v)}, not 1`);
        return 1;
      }
      if (!failedOnly || line.status === 'failed') lines.push(line);
    }
  }
  process.stdout.write(formatTable(lines));
  return 0;
}
