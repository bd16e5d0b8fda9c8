// Reading and writing cgroupfs. These are synchronous on purpose: a cgroupfs file is an
// in-kernel call of a few microseconds (research/perf-baselines.md "Cgroup primitives"), cheaper
// than one hop through libuv's thread pool; the public methods stay async so waits (freeze,
// rmdir retries) yield to the event loop.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoName, fromNodeError, NsgroupsError } from '../errors';

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fromNodeError(err, `reading ${file}`, { path: file });
  }
}

/** The file's text, or null when it does not exist (a feature this kernel or cgroup lacks). */
export function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENODEV' || errnoOf(err) === 'EOPNOTSUPP') return null;
    throw fromNodeError(err, `reading ${file}`, { path: file });
  }
}

export function exists(file: string): boolean {
  try {
    fs.accessSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes one value in one write(2), as cgroupfs wants it. EINVAL from the kernel means the value
 * was refused: that is the caller's input, so it becomes ERR_INVALID_ARG.
 */
export function writeValue(file: string, value: string, what?: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EINVAL' || code === 'ERANGE') {
      throw new NsgroupsError(
        'ERR_INVALID_ARG',
        `the kernel refused ${what ?? JSON.stringify(value)} in ${path.basename(file)} (${code}): ` + 'the value is out of range for this cgroup or its parent',
        { errno: (err as NodeJS.ErrnoException).errno, syscall: 'write', path: file, cause: err },
      );
    }
    throw fromNodeError(err, `writing ${JSON.stringify(value)} to ${file}`, { path: file });
  }
}

/** Flat-keyed files ("KEY VALUE" lines: memory.events, cpu.stat, cgroup.events …). */
export function parseFlatKeyed(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out[key] = Number(value);
  }
  return out;
}

/** Nested-keyed files ("KEY a=1 b=2" lines: io.stat, io.max, *.pressure). */
export function parseNestedKeyed(text: string | null): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  if (!text) return out;
  for (const line of text.split('\n')) {
    const [key, ...pairs] = line.trim().split(/\s+/);
    if (!key) continue;
    const entry: Record<string, string> = {};
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq > 0) entry[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out[key] = entry;
  }
  return out;
}

/** Ids in cgroup.procs / cgroup.threads / tasks. */
export function readIds(file: string): number[] {
  const text = readIfExists(file);
  if (text === null) return [];
  return text.split('\n').filter(Boolean).map(Number);
}

/** The child cgroups of a cgroup directory (its subdirectories), deepest first. */
export function descendantsDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    // kernfs keeps a directory's link count at 2 + its subdirectories: no children, no readdir
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (!st || st.nlink === 2) return out;
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return out;
    throw fromNodeError(err, `listing ${dir}`, { path: dir });
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const child = path.join(dir, e.name);
    out.push(...descendantsDeepestFirst(child), child);
  }
  return out;
}

// mkdir and rmdir off the JS thread through the callback API: half the JS thread's time of
// fs.promises (13 against 27 µs a call on the reference host), which matters at 5 per cgroup
/** mkdir(2) on the thread pool. */
export function mkdirAsync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => fs.mkdir(dir, (err) => (err ? reject(err) : resolve())));
}

/** rmdir(2) on the thread pool. */
export function rmdirAsync(dir: string): Promise<void> {
  return new Promise((resolve, reject) => fs.rmdir(dir, (err) => (err ? reject(err) : resolve())));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * rmdir with retries on EBUSY: the kernel needs a moment after the last process of a cgroup
 * exits before the directory may go (runc retries the same way). ENOENT means it is gone already.
 */
export async function rmdirRetrying(dir: string, budgetMs = 5000): Promise<void> {
  // EBUSY right after the last process left is transient (the kernel is still tearing the
  // cgroup's tasks down, slower on a loaded machine): back off, within a time budget
  const deadline = Date.now() + budgetMs;
  let delay = 1;
  for (;;) {
    try {
      // off the JS thread: removing a v1 cgroup waits for the kernel to take its css offline
      await rmdirAsync(dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() >= deadline) {
        throw fromNodeError(err, `removing the cgroup ${dir}`, {
          path: dir,
          hint: code === 'EBUSY' ? 'it still has processes or child cgroups; delete({ kill: true }) kills them first' : undefined,
        });
      }
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
}

/**
 * One rmdir off the JS thread: true when the directory is gone (or was already), false on
 * EBUSY (child cgroups, or tasks still leaving: rmdirRetrying's to wait out); other errors throw.
 */
export async function rmdirOnce(dir: string): Promise<boolean> {
  try {
    await rmdirAsync(dir);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT') return true;
    if (code === 'EBUSY' || code === 'ENOTEMPTY') return false;
    throw fromNodeError(err, `removing the cgroup ${dir}`, { path: dir });
  }
}

/** True when errno-ish `err` is one of `names` (ENOENT …). */
export function isErrno(err: unknown, ...names: string[]): boolean {
  const e = err as { code?: string; errno?: number };
  if (e?.code && names.includes(e.code)) return true;
  return typeof e?.errno === 'number' && names.includes(errnoName(e.errno));
}
