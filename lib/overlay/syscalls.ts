// The overlay module's view of the native filesystem calls (src-native/fs_natives.cc): each
// wrapper turns the binding's { errno, syscall } error into an NsgroupsError naming the path.
import { constants as osConstants } from 'node:os';
import type { NativeError, NativeFsConstants } from '../../types/native';
import { systemError } from '../errors';
import { native } from '../native';

const { ENODATA, ENOTSUP, EOPNOTSUPP } = osConstants.errno;

// Duck-typed, not instanceof Error: the addon's errors come from the main context's Error, which
// differs from a vm context's (jest runs tests in one).
function isNativeError(err: unknown): err is NativeError {
  const e = err as NativeError | null;
  return typeof e === 'object' && e !== null && typeof e.errno === 'number' && typeof e.syscall === 'string';
}

/** Rethrows a binding error as an NsgroupsError (`what` names the operation); other errors as they are. */
export function rethrowNative(err: unknown, what: string, path?: string, hint?: string): never {
  if (isNativeError(err)) throw systemError(err.errno, err.syscall, what, { path, hint, cause: err });
  throw err;
}

export function errnoOf(err: unknown): number | undefined {
  return isNativeError(err) ? -err.errno : undefined;
}

export function fsConstants(): NativeFsConstants {
  return native().fsConstants;
}

/** Names of the extended attributes of `path` (a final symlink is not followed); [] where the filesystem has none. */
export function listXattrs(path: string): string[] {
  try {
    return native().llistxattr(path);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === ENOTSUP || errno === EOPNOTSUPP) return [];
    return rethrowNative(err, `listing the extended attributes of ${path}`, path);
  }
}

/** The value of one extended attribute, or null when `path` does not have it. */
export function getXattr(path: string, name: string): Buffer | null {
  try {
    return native().lgetxattr(path, name);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === ENODATA || errno === ENOTSUP || errno === EOPNOTSUPP) return null;
    return rethrowNative(err, `reading the extended attribute ${name} of ${path}`, path);
  }
}

export function setXattr(path: string, name: string, value: Buffer, hint?: string): void {
  try {
    native().lsetxattr(path, name, value, 0);
  } catch (err) {
    rethrowNative(err, `setting the extended attribute ${name} on ${path}`, path, hint);
  }
}

export function mknod(path: string, mode: number, major: number, minor: number, hint?: string): void {
  try {
    native().mknod(path, mode, major, minor);
  } catch (err) {
    rethrowNative(err, `creating the device node ${path}`, path, hint);
  }
}

/** Sets atime and mtime to the nanosecond, on the link itself for a symlink. */
export function setTimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  try {
    native().utimensat(path, atimeNs, mtimeNs, fsConstants().AT_SYMLINK_NOFOLLOW);
  } catch (err) {
    rethrowNative(err, `setting the timestamps of ${path}`, path);
  }
}

/** The major and minor numbers of a dev_t (glibc's encoding, <sys/sysmacros.h>). */
export function splitDev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}
