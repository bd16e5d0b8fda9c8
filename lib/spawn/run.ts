// run(): spawn, feed stdin, collect stdout/stderr, resolve once the process has exited and its
// output is read. A non-zero exit resolves (it is the caller's result); a failure to start
// rejects with NsgroupsError (status 'setup'). The result says what the run used and why it
// ended (usage, status: lib/spawn/usage.ts, docs/judge.md).
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Cgroup } from '../cgroup/cgroup';
import type { CgroupStats } from '../cgroup/stats';
import { fromNodeError, invalidArg } from '../errors';
import { checkInteger, checkObject, checkString } from '../util/validate';
import { resolveSpawn, type ResolvedSpawn, type SpawnOptions, type StdioEntry } from './options';
import { spawnResolved, type ExitResult, type SandboxProcess } from './process';

/** A file the command reads as its stdin (opened by the parent, handed over as fd 0: no copy). */
export interface InputFile {
  /** the path (or file: URL) of the file; one that cannot be opened rejects run() (status 'setup') */
  file: string | URL;
}

/**
 * The options of run(): spawn()'s, plus the command's input, the output's encoding and its size
 * limit. stdin defaults to /dev/null, stdout and stderr to pipes that run() collects.
 * @example
 * const r = await run('wc', ['-c'], { input: 'hello', namespaces: ['user'], maxBuffer: 1 << 20 });
 * r.stdout; // '5\n'
 */
export interface RunOptions extends SpawnOptions {
  /**
   * the command's stdin: data (a string, a Buffer or any TypedArray), a Readable stream piped in,
   * or { file } read directly; default: /dev/null
   */
  input?: string | NodeJS.ArrayBufferView | Readable | InputFile;
  /** 'utf8' (default) or any Node BufferEncoding: stdout/stderr are strings; 'buffer' (or null): Buffers */
  encoding?: BufferEncoding | 'buffer' | null;
  /**
   * bytes kept of stdout and of stderr each (child_process's maxBuffer); past it the command is
   * stopped (killSignal, then SIGKILL after killAfter), the output truncated, status 'output'.
   * Default: no limit.
   */
  maxBuffer?: number;
}

/**
 * What run() resolves with: the exit (`code`, `signal`), the verdict (`status`), what the run used
 * (`usage`), and the collected output.
 * @example
 * const { status, code, usage, stdout } = await run('true', [], { namespaces: ['user'] });
 * // status 'ok', code 0, usage.wallMs a few ms, stdout ''
 */
export interface RunResult<Out = string | Buffer> extends ExitResult {
  /** the command's pid in the caller's pid namespace */
  pid: number;
  /** the command's stdout: a string in `encoding` (default utf8), or a Buffer with 'buffer'; at most maxBuffer bytes */
  stdout: Out;
  /** the command's stderr, as stdout */
  stderr: Out;
  /** the timeout option fired */
  timedOut: boolean;
  /** the cgroup's stats() after the command ended, when options.cgroup was given */
  stats?: CgroupStats;
}

export type Input = { kind: 'none' } | { kind: 'data'; data: Uint8Array } | { kind: 'stream'; stream: Readable } | { kind: 'file'; path: string };

function resolveInput(input: unknown): Input {
  if (input === undefined) return { kind: 'none' };
  if (typeof input === 'string') return { kind: 'data', data: Buffer.from(input) };
  if (ArrayBuffer.isView(input)) return { kind: 'data', data: new Uint8Array(input.buffer, input.byteOffset, input.byteLength) };
  if (input instanceof Readable) return { kind: 'stream', stream: input };
  if (typeof input === 'object' && input !== null && 'file' in input) {
    const f = (input as InputFile).file;
    return { kind: 'file', path: f instanceof URL ? fileURLToPath(f) : checkString(f, 'options.input.file') };
  }
  throw invalidArg('options.input must be a string, a Buffer (or TypedArray), a Readable stream, or { file: path }');
}

function resolveEncoding(value: unknown): BufferEncoding | null {
  if (value === undefined) return 'utf8';
  if (value === 'buffer' || value === null) return null;
  if (typeof value === 'string' && Buffer.isEncoding(value)) return value;
  throw invalidArg(`options.encoding must be 'buffer' or a Node encoding ('utf8', 'latin1', 'hex', 'base64', …), got ${JSON.stringify(value)}`);
}

/** The stdio for run(): stdin from the input, stdout/stderr piped unless the caller says otherwise. */
function stdioFor(given: SpawnOptions['stdio'], input: Input, fileFd: number): StdioEntry[] | SpawnOptions['stdio'] {
  const stdin: StdioEntry = input.kind === 'none' ? 'ignore' : input.kind === 'file' ? fileFd : 'pipe';
  if (given === undefined) return [stdin, 'pipe', 'pipe'];
  if (input.kind === 'none') return given;
  const entries: StdioEntry[] = typeof given === 'string' ? [given, given, given] : [...given];
  if (entries[0] !== undefined && entries[0] !== null && entries[0] !== 'pipe') {
    throw invalidArg("options.input is the command's stdin: options.stdio[0] must then be 'pipe' or left out");
  }
  entries[0] = stdin;
  return entries;
}

/** Collects a stream, keeping at most `max` bytes; `onOverflow` once past them (the rest is read and dropped). */
function collect(stream: Readable | null, max: number, onOverflow: () => void): () => Buffer {
  if (!stream) return () => Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  stream.on('data', (chunk: Buffer) => {
    if (over) return;
    if (size + chunk.length > max) {
      chunks.push(chunk.subarray(0, max - size));
      size = max;
      over = true;
      onOverflow();
      return;
    }
    chunks.push(chunk);
    size += chunk.length;
  });
  return () => Buffer.concat(chunks, size);
}

/** run()'s own options apart from spawn()'s, checked (nothing is opened yet). */
export interface RunParts {
  input: Input;
  encoding: BufferEncoding | null;
  maxBuffer: number;
  spawnOptions: SpawnOptions;
}

export function splitRunOptions(options: RunOptions): RunParts {
  const o = checkObject(options, 'options');
  const { input: rawInput, encoding: rawEncoding, maxBuffer: rawMax, ...spawnOptions } = o as RunOptions;
  const encoding = resolveEncoding(rawEncoding);
  const maxBuffer = rawMax === undefined || rawMax === Infinity ? Infinity : checkInteger(rawMax, 'options.maxBuffer', 0, Number.MAX_SAFE_INTEGER);
  const input = resolveInput(rawInput);
  // validated before the input file is opened: nothing to undo for bad options
  stdioFor(spawnOptions.stdio, input, 0);
  return { input, encoding, maxBuffer, spawnOptions };
}

/**
 * The run's stdio, with the input file opened (status 'setup' if it cannot be). The caller
 * closes `file` once the command's process has its own copy (after the clone or the hand-over).
 */
export async function openRunStdio(parts: RunParts): Promise<{ stdio: SpawnOptions['stdio']; file: fs.promises.FileHandle | null }> {
  const { input, spawnOptions } = parts;
  if (input.kind !== 'file') return { stdio: stdioFor(spawnOptions.stdio, input, 0), file: null };
  let file: fs.promises.FileHandle;
  try {
    file = await fs.promises.open(input.path, 'r');
  } catch (err) {
    const e = fromNodeError(err, `opening the input file ${input.path}`, { path: input.path });
    e.status = 'setup';
    throw e;
  }
  return { stdio: stdioFor(spawnOptions.stdio, input, file.fd), file };
}

/** `onSpawned`: the process, as soon as it exists (a Sandbox keeps track of what runs in it). */
export async function runProcess(
  command: string,
  args: readonly string[] | undefined,
  options: RunOptions = {},
  onSpawned?: (proc: SandboxProcess) => void,
): Promise<RunResult> {
  const parts = splitRunOptions(options);
  const { stdio, file } = await openRunStdio(parts);
  let proc: SandboxProcess;
  let spec: ResolvedSpawn;
  try {
    spec = resolveSpawn(command, args, { ...parts.spawnOptions, stdio });
    proc = spawnResolved(spec);
  } finally {
    // the child has its own copy of the file's descriptor from the clone on
    await file?.close();
  }
  onSpawned?.(proc);
  return collectRun(proc, parts, spec.cgroup);
}

/**
 * Feeds `proc` its input and resolves with its result once it has exited and its output is
 * read; `cgroup`'s stats are the run's.
 */
export async function collectRun(proc: SandboxProcess, parts: RunParts, cgroup: Cgroup | null): Promise<RunResult> {
  const { input, encoding, maxBuffer } = parts;
  const overflow = (): void => proc._stop('output');
  const stdout = collect(proc.stdout, maxBuffer, overflow);
  const stderr = collect(proc.stderr, maxBuffer, overflow);
  let inputError: unknown = null;
  if (proc.stdin) {
    // A command that exits without reading its input closes the pipe: EPIPE is its business.
    proc.stdin.on('error', () => {});
    if (input.kind === 'stream') {
      input.stream.once('error', (err) => {
        inputError ??= err;
        proc.stdin!.end();
      });
      input.stream.pipe(proc.stdin);
    } else {
      proc.stdin.end(input.kind === 'data' ? input.data : '');
    }
  }
  await new Promise<void>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', () => resolve());
  }).finally(() => {
    if (input.kind === 'stream') input.stream.unpipe(proc.stdin ?? undefined);
  });
  const info = await proc.exited;
  if (inputError) throw inputError;
  const text = (b: Buffer): string | Buffer => (encoding === null ? b : b.toString(encoding));
  const result: RunResult = { ...info, pid: proc.pid!, stdout: text(stdout()), stderr: text(stderr()), timedOut: proc.timedOut };
  if (cgroup) result.stats = await cgroup.stats();
  return result;
}
