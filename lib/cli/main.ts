#!/usr/bin/env node
// The nsgroups command line: run, doctor (and ls). Errors print their message and exit like
// env(1) does: 127 when the command was not found, 126 when it could not be executed, 125 when
// the sandbox itself could not be made.
import { NsgroupsError } from '../errors';
import { parseRunArgs, RUN_USAGE, runCommand } from './run';

const USAGE = `usage: nsgroups <command> [options]

commands:
  run [options] -- CMD [ARGS...]   run a command in a sandbox (nsgroups run --help)
  doctor [--json]                  what this host supports, and how to fix what is missing
  ls [--json]                      namespaces (like lsns) and nsgroups' cgroups with their processes
  help                             this text`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const parsed = parseRunArgs(rest);
      if (parsed === 'help') {
        console.log(RUN_USAGE);
        return 0;
      }
      return runCommand(parsed);
    }
    case 'doctor': {
      const { doctor } = await import('./doctor');
      return doctor(rest);
    }
    case 'ls': {
      const { ls } = await import('./ls');
      return ls(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`nsgroups: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    const e = err as Error & { code?: string };
    const known = err instanceof NsgroupsError || e?.code?.startsWith?.('ERR_PARSE_ARGS');
    console.error(`nsgroups: ${known ? e.message : e?.stack ?? String(err)}`);
    const execve = err instanceof NsgroupsError && err.step === 'execve';
    process.exitCode = execve && err.code === 'ERR_NOT_FOUND' ? 127 : execve ? 126 : e?.code?.startsWith?.('ERR_PARSE_ARGS') ? 2 : 125;
  },
);
