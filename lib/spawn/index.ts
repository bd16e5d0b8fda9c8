import type { Readable, Writable } from 'node:stream';
import { resolveSpawn, type SpawnOptions, type StdioEntry } from './options';
import { SandboxProcess, spawnResolved } from './process';
import { runProcess, type RunOptions, type RunResult } from './run';

// The stdio entries that give the parent a stream (child_process's StdioPipe): with them the
// stream is typed non-null, so `spawn(...).stdout.pipe(...)` needs no `!`.
/** The stdio entries that give the parent a stream: 'pipe', or one left out (undefined, null). */
export type StdioPipe = undefined | null | 'pipe';
/** `S` (a stream type) for a stdio entry that pipes, else null */
export type PipeOr<T, S> = T extends StdioPipe ? S : null;

/** Options whose stdio pipes fds 0-2 (the default). */
export interface SpawnOptionsWithoutStdio extends SpawnOptions {
  /** 'pipe' (the default) or one StdioPipe per fd: stdin, stdout and stderr are then streams */
  stdio?: 'pipe' | readonly StdioPipe[];
}

/** Options with stdio spelled out for fds 0-2 (and maybe more). */
export interface SpawnOptionsWithStdioTuple<I extends StdioEntry, O extends StdioEntry, E extends StdioEntry> extends SpawnOptions {
  /** one entry per fd, at least fds 0-2: each of stdin, stdout, stderr is typed from its entry */
  stdio: readonly [I, O, E, ...StdioEntry[]];
}

/** A SandboxProcess whose stdin, stdout and stderr are pipes. */
export interface SandboxProcessWithoutNullStreams extends SandboxProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
}

/** A SandboxProcess with each of stdin, stdout, stderr typed by its stdio entry. */
export interface SandboxProcessByStdio<I extends Writable | null, O extends Readable | null, E extends Readable | null> extends SandboxProcess {
  readonly stdin: I;
  readonly stdout: O;
  readonly stderr: E;
}

/**
 * Starts `command` in a sandbox of your design and returns at once (child_process.spawn's shape).
 * With stdio 'pipe' (the default) `stdin`, `stdout` and `stderr` are typed non-null. A failure to
 * start is an 'error' event and a rejected `exited` (the NsgroupsError's `step` says where).
 * @throws NsgroupsError ERR_INVALID_ARG for bad options, before anything is created
 * @example
 * const p = spawn('sh', ['-c', 'hostname'], { namespaces: ['user', 'uts'], hostname: 'box' });
 * p.stdout.pipe(process.stdout);
 * const { code, signal, status } = await p.exited; // 0, null, 'ok'
 */
export function spawn(command: string, args?: readonly string[], options?: SpawnOptionsWithoutStdio): SandboxProcessWithoutNullStreams;
export function spawn(command: string, options?: SpawnOptionsWithoutStdio): SandboxProcessWithoutNullStreams;
export function spawn<const I extends StdioEntry, const O extends StdioEntry, const E extends StdioEntry>(
  command: string,
  args: readonly string[],
  options: SpawnOptionsWithStdioTuple<I, O, E>,
): SandboxProcessByStdio<PipeOr<I, Writable>, PipeOr<O, Readable>, PipeOr<E, Readable>>;
export function spawn<const I extends StdioEntry, const O extends StdioEntry, const E extends StdioEntry>(
  command: string,
  options: SpawnOptionsWithStdioTuple<I, O, E>,
): SandboxProcessByStdio<PipeOr<I, Writable>, PipeOr<O, Readable>, PipeOr<E, Readable>>;
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): SandboxProcess;
export function spawn(command: string, options?: SpawnOptions): SandboxProcess;
export function spawn(command: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions): SandboxProcess {
  if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as SpawnOptions];
  return spawnResolved(resolveSpawn(command, args, options));
}

type Text = RunOptions & { encoding?: BufferEncoding };
type Binary = RunOptions & { encoding: 'buffer' | null };

/**
 * Runs `command` to completion and resolves with its exit, output (utf8 strings; Buffers with
 * `encoding: 'buffer'`), usage and verdict (see RunResult). A non-zero exit resolves.
 * @throws NsgroupsError ERR_INVALID_ARG for bad options; rejects with NsgroupsError (status
 * 'setup') when the command never ran
 * @example
 * const r = await run('echo', ['hi'], { namespaces: ['user', 'pid'], timeout: 5000 });
 * r.stdout; // 'hi\n'
 */
export function run(command: string, args?: readonly string[], options?: Text): Promise<RunResult<string>>;
export function run(command: string, args: readonly string[], options: Binary): Promise<RunResult<Buffer>>;
export function run(command: string, options?: Text): Promise<RunResult<string>>;
export function run(command: string, options: Binary): Promise<RunResult<Buffer>>;
export function run(command: string, args?: readonly string[], options?: RunOptions): Promise<RunResult>;
export async function run(command: string, args?: readonly string[] | RunOptions, options?: RunOptions): Promise<RunResult> {
  if (args !== undefined && !Array.isArray(args) && options === undefined) [args, options] = [undefined, args as RunOptions];
  return runProcess(command, args as readonly string[] | undefined, options);
}

export { SandboxProcess };
export type { ExitInfo, ExitResult, SandboxProcessEvents } from './process';
export type { NamespaceType, NetworkOption, SpawnOptions, StdioEntry, StdioName, UserOption } from './options';
export type { InputFile, RunOptions, RunResult } from './run';
export type { CgroupUsage, RunStatus, Usage } from './usage';
