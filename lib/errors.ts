import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

/**
 * What kind of failure an {@link NsgroupsError} is: `ERR_INVALID_ARG` bad input (nothing was
 * made), `ERR_UNSUPPORTED` the host lacks the feature, `ERR_PERMISSION` EPERM/EACCES/EROFS,
 * `ERR_NOT_FOUND` ENOENT/ESRCH, `ERR_BUSY` EBUSY (or a resource in use), `ERR_SYSTEM` any other
 * errno.
 */
export type NsgroupsErrorCode = 'ERR_INVALID_ARG' | 'ERR_UNSUPPORTED' | 'ERR_PERMISSION' | 'ERR_NOT_FOUND' | 'ERR_BUSY' | 'ERR_SYSTEM';

/** The fields of an NsgroupsError besides its code and message (the constructor's third argument). */
export interface NsgroupsErrorDetails {
  /** negative, as in Node's SystemError: -2 for ENOENT */
  errno?: number;
  /** the system call that failed, e.g. 'mount' */
  syscall?: string;
  /** the file the failure is about */
  path?: string;
  /** the setup step of a spawn that failed, e.g. 'pivot_root', 'execve' */
  step?: string;
  /** the error this one wraps (Error's `cause`) */
  cause?: unknown;
}

/**
 * The one error class of the library (one implementation serves `require` and `import`, so
 * `instanceof NsgroupsError` holds in both). Only the fields a failure has are defined.
 *
 * @example
 * try {
 *   await run('make', [], { namespaces: ['user'], cwd: '/no/such/dir' });
 * } catch (err) {
 *   if (err instanceof NsgroupsError && err.code === 'ERR_NOT_FOUND') console.error(err.message, err.step);
 * }
 */
export class NsgroupsError extends Error {
  /** what kind of failure (see {@link NsgroupsErrorCode}) */
  readonly code: NsgroupsErrorCode;
  // `declare`: only the fields a failure has are defined (ES2022 class fields would define every
  // one, and util.inspect would print `errno: undefined, syscall: undefined`)
  /** the errno of a failed system call, negative as in Node's SystemError: -2 for ENOENT */
  declare readonly errno?: number;
  /** the system call that failed, e.g. 'mount', 'clone3' */
  declare readonly syscall?: string;
  /** the file the failure is about */
  declare readonly path?: string;
  /** the setup step of a spawn that failed, e.g. 'pivot_root', 'execve', 'cgroup' */
  declare readonly step?: string;
  /** run() and spawn().exited: 'setup' on the error of a command that never ran (its verdict, docs/judge.md) */
  declare status?: 'setup';

  /**
   * Made by the library; a caller rarely needs to make one.
   * @example
   * new NsgroupsError('ERR_NOT_FOUND', 'no cgroup named jobs', { path: '/sys/fs/cgroup/nsgroups/jobs' });
   */
  constructor(code: NsgroupsErrorCode, message: string, details: NsgroupsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'NsgroupsError';
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
    if (details.step !== undefined) this.step = details.step;
  }
}

export function invalidArg(message: string): NsgroupsError {
  return new NsgroupsError('ERR_INVALID_ARG', message);
}

export function unsupported(message: string): NsgroupsError {
  return new NsgroupsError('ERR_UNSUPPORTED', message);
}

// libuv's map covers the errnos it knows; os.constants.errno names all of them (ENOEXEC…).
const errorMap = getSystemErrorMap();
const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name]));

/** 'ENOENT' for 2 or -2. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return errorMap.get(-n)?.[0] ?? errnoNames.get(n) ?? `errno ${n}`;
}

/** 'no such file or directory' for 2 or -2 (the C library's strerror text where libuv has none). */
export function errnoMessage(errno: number): string {
  const n = Math.abs(errno);
  const known = errorMap.get(-n)?.[1];
  if (known) return known;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('./native') as typeof import('./native')).native().strerror(n).toLowerCase();
  } catch {
    return `unknown error ${n}`;
  }
}

export function codeForErrno(errno: number): NsgroupsErrorCode {
  switch (errnoName(errno)) {
    case 'ENOENT':
    case 'ESRCH':
      return 'ERR_NOT_FOUND';
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return 'ERR_PERMISSION';
    case 'EBUSY':
      return 'ERR_BUSY';
    case 'ENOSYS':
    case 'EOPNOTSUPP':
    case 'ENOTSUP': // Node's name for errno 95 (EOPNOTSUPP on Linux)
      return 'ERR_UNSUPPORTED';
    default:
      return 'ERR_SYSTEM';
  }
}

/**
 * An error for a failed system call: `what` says what was being done, `hint` what to do about
 * it. The message reads like Node's: "EPERM: operation not permitted, mount '/x' (hint)".
 */
export function systemError(
  errno: number,
  syscall: string,
  what: string,
  extra: { path?: string; step?: string; hint?: string; cause?: unknown } = {},
): NsgroupsError {
  const n = -Math.abs(errno);
  const hint = extra.hint ? `: ${extra.hint}` : '';
  return new NsgroupsError(codeForErrno(n), `${what} failed: ${errnoName(n)} (${errnoMessage(n)})${hint}`, {
    errno: n,
    syscall,
    path: extra.path,
    step: extra.step,
    cause: extra.cause,
  });
}

/** Wraps an error from Node's fs (or anything with errno/syscall) as an NsgroupsError. */
export function fromNodeError(err: unknown, what: string, extra: { path?: string; hint?: string; step?: string } = {}): NsgroupsError {
  if (err instanceof NsgroupsError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.errno === 'number') {
    return systemError(e.errno, e.syscall ?? 'unknown', what, {
      path: extra.path ?? e.path,
      hint: extra.hint,
      step: extra.step,
      cause: err,
    });
  }
  return new NsgroupsError('ERR_SYSTEM', `${what} failed: ${String(e?.message ?? err)}`, {
    cause: err,
    step: extra.step,
  });
}
