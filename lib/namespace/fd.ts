// Namespace fds: opened close-on-exec, checked against the identity we expect, closed on every
// path. An fd whose namespace a Namespace object holds is closed when the object is closed, or
// when it is garbage-collected without being closed (as Node's FileHandle does).
import * as fs from 'node:fs';
import type { NativeError } from '../../types/native';
import { fromNodeError, NsgroupsError, systemError } from '../errors';
import { native } from '../native';
import { typeOfCloneFlag, type NamespaceType } from './kinds';

export interface Identity {
  type: NamespaceType;
  inode: number;
  dev: number;
}

/** Opens `path` read-only (Node opens with O_CLOEXEC): an fd for setns(2) or the NS_GET_* ioctls. */
export function openNamespacePath(path: string, what: string): number {
  try {
    return fs.openSync(path, fs.constants.O_RDONLY);
  } catch (err) {
    throw fromNodeError(err, what, {
      path,
      hint:
        (err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM'
          ? "opening another user's /proc/PID/ns entry needs ptrace access to that process (same uid, or CAP_SYS_PTRACE)"
          : undefined,
    });
  }
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** What `fd` is: type (NS_GET_NSTYPE), inode and device (fstat); ERR_INVALID_ARG if not a namespace. */
export function identify(fd: number, path: string): Identity {
  let flag: number;
  try {
    flag = native().nsGetType(fd);
  } catch (err) {
    const e = err as NativeError;
    if (e.errno === -25 /* ENOTTY */ || e.errno === -22 /* EINVAL */) {
      throw new NsgroupsError('ERR_INVALID_ARG', `${path} is not a namespace: give a /proc/PID/ns/TYPE file or a file a namespace is pinned on`, { path });
    }
    throw systemError(e.errno, e.syscall, `asking the type of namespace ${path}`, { path });
  }
  const type = typeOfCloneFlag(flag);
  if (!type) throw new NsgroupsError('ERR_UNSUPPORTED', `${path} is a namespace of a type this library does not know (flag 0x${flag.toString(16)})`);
  const st = fs.fstatSync(fd);
  return { type, inode: st.ino, dev: st.dev };
}

/** Runs `fn` with an fd of the namespace at `path`, closed afterwards whatever happens. */
export function withNamespaceFd<T>(path: string, what: string, fn: (fd: number) => T): T {
  const fd = openNamespacePath(path, what);
  try {
    return fn(fd);
  } finally {
    closeQuietly(fd);
  }
}
