// `join`: existing namespaces to enter (setns), given as paths (/proc/PID/ns/TYPE, a pin) or as
// Namespace objects. Each is opened here, and its type asked of the kernel (NS_GET_NSTYPE):
// a pinned file's name says nothing about what it holds.
import * as fs from 'node:fs';
import { errnoName, invalidArg, NsgroupsError } from '../errors';
import { native } from '../native';
import { checkArray, checkString } from '../util/validate';
import { CLONE_NEW, NAMESPACE_TYPES, type NamespaceType } from './namespaces';

/** What `join` accepts: a path, or anything shaped like a Namespace (type and an openable path). */
export type JoinTarget = string | { readonly type: NamespaceType; readonly path: string };

export interface OpenJoin {
  fd: number;
  type: NamespaceType;
  path: string;
}

const TYPE_OF_NSTYPE = new Map(Object.entries(CLONE_NEW).map(([t, v]) => [v, t as NamespaceType]));

/** Validates the shape of `join` (pure). */
export function checkJoins(value: unknown): Array<{ path: string; type: NamespaceType | null }> {
  if (value === undefined) return [];
  return checkArray(value, 'options.join').map((entry, i) => {
    const what = `options.join[${i}]`;
    if (typeof entry === 'string') return { path: checkString(entry, what), type: null };
    if (entry && typeof entry === 'object' && 'path' in entry && 'type' in entry) {
      const e = entry as { path: unknown; type: unknown };
      const type = e.type as NamespaceType;
      if (!NAMESPACE_TYPES.includes(type)) throw invalidArg(`${what}.type must be a namespace type, got ${String(e.type)}`);
      return { path: checkString(e.path, `${what}.path`), type };
    }
    throw invalidArg(`${what} must be a namespace path (like /proc/PID/ns/net) or a Namespace`);
  });
}

/** Opens every join target; on any failure closes what it opened and throws. */
export function openJoins(targets: Array<{ path: string; type: NamespaceType | null }>): OpenJoin[] {
  const opened: OpenJoin[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      let fd: number;
      try {
        fd = fs.openSync(t.path, 'r');
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new NsgroupsError(
          e.code === 'ENOENT' ? 'ERR_NOT_FOUND' : e.code === 'EACCES' || e.code === 'EPERM' ? 'ERR_PERMISSION' : 'ERR_SYSTEM',
          `options.join[${i}]: cannot open the namespace '${t.path}' (${e.code})` +
            (e.code === 'EACCES' || e.code === 'EPERM' ? ': entering another user\'s namespaces needs root (CAP_SYS_PTRACE over its process)' : ''),
          { errno: e.errno, syscall: 'open', path: t.path },
        );
      }
      const nstype = native().namespaceFdType(fd);
      const type = TYPE_OF_NSTYPE.get(nstype);
      if (!type) {
        fs.closeSync(fd);
        throw invalidArg(
          `options.join[${i}]: '${t.path}' is not a namespace file` + (nstype < 0 ? ` (${errnoName(nstype)})` : ''),
        );
      }
      opened.push({ fd, type, path: t.path });
      if (t.type && t.type !== type) throw invalidArg(`options.join[${i}]: '${t.path}' holds a ${type} namespace, not ${t.type}`);
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
