#!/usr/bin/env node
// The nsgroups command line. Conventions (bwrap, unshare, systemd-run, coreutils): options come
// before the command and stop at it; --help and --version; every usage error exits 2 with one
// line and a pointer to --help; messages name flags, not API options. `run` exits like env(1)
// and timeout(1) (run.ts EXIT_STATUS); doctor, ls, gc and report exit 0, or 1 when they could not do
// what was asked (doctor --check: a checked feature is missing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError } from '../errors';
import { UsageError } from './args';
import { doctor, DOCTOR_USAGE } from './doctor';
import { gc, GC_USAGE } from './gc';
import { ls, LS_USAGE } from './ls';
import { report as reportCommand, REPORT_USAGE } from './report';
import { EXIT_STATUS, parseRunArgs, RUN_USAGE, runCommand } from './run';

interface Subcommand {
  usage: string;
  main(argv: string[]): Promise<number>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  run: {
    usage: RUN_USAGE,
    async main(argv) {
      const parsed = parseRunArgs(argv);
      if (parsed === 'help') return help(RUN_USAGE);
      return runCommand(parsed);
    },
  },
  doctor: { usage: DOCTOR_USAGE, main: doctor },
  ls: { usage: LS_USAGE, main: ls },
  gc: { usage: GC_USAGE, main: gc },
  report: { usage: REPORT_USAGE, main: reportCommand },
};

const USAGE = `usage: nsgroups COMMAND [OPTIONS] [ARGS...]
       nsgroups --help | --version

commands:
  run [OPTIONS] [--] CMD [ARGS...]  run a command in a sandbox
  doctor [--check [FEATURE...]]     what this host supports, and how to get what is missing
  ls [-t TYPE] [-p PID] [-o LIST]   the sandboxes running now, one row each (--json, --tree)
  gc [--dry-run]                    remove the cgroups and pins that dead nsgroups processes left
  report [--failed] FILE...         a table of the per-test sandbox reports (NSGROUPS_REPORT)
  help [COMMAND]                    this text, or a command's

'nsgroups COMMAND --help' tells more about each.

${EXIT_STATUS.replace('exit status:', 'exit status of run:')}
doctor, ls, gc and report exit 0, or 1 when something asked for is missing or failed; 2 for a usage error.`;

function help(text: string): number {
  console.log(text);
  return 0;
}

function version(): string {
  // the package root is one level above lib/ (sources) and dist/ (the bundle)
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return `nsgroups ${pkg.version}`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--help' || first === '-h') return help(USAGE);
  if (first === '--version' || first === '-V') {
    if (rest.length) throw new UsageError(`--version takes no arguments`);
    console.log(version());
    return 0;
  }
  if (first === 'help') {
    if (rest.length > 1) throw new UsageError('help takes at most one command');
    if (rest.length === 0) return help(USAGE);
    const sub = SUBCOMMANDS[rest[0]];
    if (!sub) throw new UsageError(`unknown command '${rest[0]}'`);
    return help(sub.usage);
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`);
  const sub = SUBCOMMANDS[first];
  if (!sub) throw new UsageError(`unknown command '${first}'`);
  current = first;
  return sub.main(rest);
}

// the subcommand being run, for the prefix of its messages
let current: string | null = null;

function report(err: unknown): number {
  const who = current ? `nsgroups ${current}` : 'nsgroups';
  const usage = err instanceof UsageError || (err instanceof NsgroupsError && err.code === 'ERR_INVALID_ARG');
  if (usage) {
    console.error(`${who}: ${(err as Error).message.split('\n')[0]}`);
    console.error(`Try '${who} --help' for more information.`);
    return 2;
  }
  if (err instanceof NsgroupsError) {
    console.error(`${who}: ${err.message}`);
    if (current !== 'run') return 1;
    if (err.step === 'execve') return err.code === 'ERR_NOT_FOUND' ? 127 : 126;
    return 125;
  }
  console.error(`${who}: internal error: ${(err as Error)?.stack ?? String(err)}`);
  return current === 'run' ? 125 : 1;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
