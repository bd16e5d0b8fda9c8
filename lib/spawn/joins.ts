// `join`: existing namespaces to enter (setns), given as paths (/proc/PID/ns/TYPE, a pin) or as
// Namespace objects. Each is opened here, and its type asked of the kernel (NS_GET_NSTYPE):
// a pinned file's name says nothing about what it holds. A Namespace opens itself (openFd),
// which also checks that its path still leads to the same namespace.
import * as fs from 'node:fs';
import { invalidArg, NsgroupsError } from '../errors';
import { Namespace } from '../namespace/namespace';
import { native } from '../native';
import { checkArray, checkString } from '../util/validate';
import { typeOfCloneFlag, type NamespaceType } from '../namespace/kinds';

/** What `join` accepts: a namespace file's path, or a Namespace. */
export type JoinTarget = string | Namespace;

export interface OpenJoin {
  fd: number;
  type: NamespaceType;
  path: string;
}

interface JoinRequest {
  path: string;
  namespace: Namespace | null;
}

/** Validates the shape of `join` (pure). */
export function checkJoins(value: unknown): JoinRequest[] {
  if (value === undefined) return [];
  return checkArray(value, 'options.join').map((entry, i) => {
    const what = `options.join[${i}]`;
    if (typeof entry === 'string') return { path: checkString(entry, what), namespace: null };
    if (entry instanceof Namespace) return { path: entry.path, namespace: entry };
    throw invalidArg(`${what} must be a namespace path (like /proc/PID/ns/net) or a Namespace`);
  });
}

function openPath(path: string, i: number): number {
  try {
    return fs.openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NsgroupsError(
      e.code === 'ENOENT' ? 'ERR_NOT_FOUND' : e.code === 'EACCES' || e.code === 'EPERM' ? 'ERR_PERMISSION' : 'ERR_SYSTEM',
      `options.join[${i}]: cannot open the namespace '${path}' (${e.code})` +
        (e.code === 'EACCES' || e.code === 'EPERM' ? ": entering another user's namespaces needs root (CAP_SYS_PTRACE over its process)" : ''),
      { errno: e.errno, syscall: 'open', path },
    );
  }
}

function typeOf(fd: number): NamespaceType | undefined {
  try {
    return typeOfCloneFlag(native().nsGetType(fd));
  } catch {
    return undefined; // ENOTTY: not an nsfs file
  }
}

/** Opens every join target; on any failure closes what it opened and throws. */
export function openJoins(targets: JoinRequest[]): OpenJoin[] {
  const opened: OpenJoin[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const fd = t.namespace ? t.namespace.openFd() : openPath(t.path, i);
      const type = typeOf(fd);
      if (!type) {
        fs.closeSync(fd);
        throw invalidArg(`options.join[${i}]: '${t.path}' is not a namespace file`);
      }
      opened.push({ fd, type, path: t.path });
      if (opened.filter((o) => o.type === type).length > 1) throw invalidArg(`options.join joins two ${type} namespaces`);
    }
    return opened;
  } catch (err) {
    closeJoins(opened);
    throw err;
  }
}

/** Closes the fds (once; the list itself stays, it describes the spawn). */
export function closeJoins(joins: OpenJoin[]): void {
  for (const j of joins) {
    if (j.fd >= 0) fs.closeSync(j.fd);
    j.fd = -1;
  }
}
