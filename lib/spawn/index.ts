import { resolveSpawn, type SpawnOptions } from './options';
import { SandboxProcess, spawnResolved } from './process';
import { runProcess, type RunOptions, type RunResult } from './run';

/**
 * Starts `command` in a sandbox of your design and returns at once (child_process.spawn's shape).
 * Bad input throws NsgroupsError('ERR_INVALID_ARG') before anything is created.
 */
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): SandboxProcess;
export function spawn(command: string, options?: SpawnOptions): SandboxProcess;
export function spawn(command: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions): SandboxProcess {
  if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as SpawnOptions];
  return spawnResolved(resolveSpawn(command, args, options));
}

type Utf8 = RunOptions & { encoding?: 'utf8' };
type Binary = RunOptions & { encoding: 'buffer' };

/** Runs `command` to completion and resolves with its exit and output (see RunResult). */
export function run(command: string, args?: readonly string[], options?: Utf8): Promise<RunResult<string>>;
export function run(command: string, args: readonly string[], options: Binary): Promise<RunResult<Buffer>>;
export function run(command: string, options?: Utf8): Promise<RunResult<string>>;
export function run(command: string, options: Binary): Promise<RunResult<Buffer>>;
export async function run(command: string, args?: readonly string[] | RunOptions, options?: RunOptions): Promise<RunResult> {
  if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as RunOptions];
  return runProcess(command, args as readonly string[] | undefined, options);
}

export { SandboxProcess };
export type { ExitInfo } from './process';
export type { NamespaceType, NetworkOption, SpawnOptions, StdioEntry, StdioName, UserOption } from './options';
export type { RunOptions, RunResult } from './run';
