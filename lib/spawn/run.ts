// run(): spawn, feed stdin, collect stdout/stderr, resolve once the process has exited and its
// output is read. A non-zero exit resolves (it is the caller's result); a failure to start
// rejects with NsgroupsError.
import type { Readable } from 'node:stream';
import type { CgroupStats } from '../cgroup/stats';
import { invalidArg } from '../errors';
import { checkObject, checkOneOf } from '../util/validate';
import { resolveSpawn, type SpawnOptions } from './options';
import { spawnResolved, type ExitInfo, type SandboxProcess } from './process';

export interface RunOptions extends SpawnOptions {
  /** written to the command's stdin, which is then closed (default: stdin is /dev/null) */
  input?: string | Uint8Array;
  /** 'utf8' (default): stdout/stderr are strings; 'buffer': Buffers */
  encoding?: 'utf8' | 'buffer';
}

export interface RunResult<Out = string | Buffer> extends ExitInfo {
  pid: number;
  stdout: Out;
  stderr: Out;
  /** the timeout option fired */
  timedOut: boolean;
  /** the cgroup's stats() after the command ended, when options.cgroup was given */
  stats?: CgroupStats;
}

function collect(stream: Readable | null): () => Buffer {
  if (!stream) return () => Buffer.alloc(0);
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks);
}

/** `onSpawned`: the process, as soon as it exists (a Sandbox keeps track of what runs in it). */
export async function runProcess(
  command: string,
  args: readonly string[] | undefined,
  options: RunOptions = {},
  onSpawned?: (proc: SandboxProcess) => void,
): Promise<RunResult> {
  const o = checkObject(options, 'options');
  const { input, encoding: enc, ...spawnOptions } = o as RunOptions;
  const encoding = enc === undefined ? 'utf8' : checkOneOf(enc, ['utf8', 'buffer'] as const, 'options.encoding');
  if (input !== undefined && typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw invalidArg('options.input must be a string, a Buffer or a Uint8Array');
  }
  const stdio = spawnOptions.stdio ?? [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
  const spec = resolveSpawn(command, args, { ...spawnOptions, stdio });
  const proc = spawnResolved(spec);
  onSpawned?.(proc);
  const stdout = collect(proc.stdout);
  const stderr = collect(proc.stderr);
  if (proc.stdin) {
    // A command that exits without reading its input closes the pipe: EPIPE is its business.
    proc.stdin.on('error', () => {});
    proc.stdin.end(input ?? '');
  }
  const info = await new Promise<ExitInfo>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
  const out = encoding === 'buffer' ? stdout() : stdout().toString('utf8');
  const err = encoding === 'buffer' ? stderr() : stderr().toString('utf8');
  const result: RunResult = { ...info, pid: proc.pid!, stdout: out, stderr: err, timedOut: proc.timedOut };
  if (spec.cgroup) result.stats = await spec.cgroup.stats();
  return result;
}
