// `mounts`: bind (ro/rw, recursive), tmpfs (size, mode), proc, overlay (an OverlayMount mounted at
// the target inside the sandbox only). Validated here; turned into child ops in plan.ts. Without a rootfs, targets must already exist: the library never creates
// directories in the host's filesystem. Binds and tmpfs are nosuid and nodev unless asked
// (`suid: true`, `dev: true`), as bubblewrap's are; `noexec: true` adds noexec.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError } from '../errors';
import { OverlayMount } from '../overlay/overlay-mount';
import { parseByteSize } from '../util/units';
import { checkArray, checkBoolean, checkInteger, checkKeys, checkObject, checkOneOf, checkString } from '../util/validate';

/** Per-mount flags of binds and tmpfs mounts. */
export interface MountFlags {
  /** read-only (recursively for a recursive bind) */
  readonly?: boolean;
  /** noexec: nothing on it can be executed (default false) */
  noexec?: boolean;
  /** keep setuid/setgid bits working (default false: nosuid; no_new_privs also disarms them) */
  suid?: boolean;
  /** let device files on it be opened (default false: nodev) */
  dev?: boolean;
}

/**
 * One entry of the `mounts` option, made in the sandbox's own mount namespace: a bind mount of a
 * host path, a tmpfs, a proc, or an OverlayMount. Targets are absolute paths inside the sandbox;
 * without a rootfs they must already exist (ERR_NOT_FOUND), under one they are made. Binds and
 * tmpfs mounts are nosuid and nodev unless {@link MountFlags} say otherwise.
 * @example
 * spawn('ls', ['/data'], {
 *   namespaces: ['user'],
 *   mounts: [{ type: 'bind', source: '/srv/data', target: '/data', readonly: true }, { type: 'tmpfs', target: '/tmp', size: '64M' }],
 * });
 */
export type MountSpec =
  | ({
      /** a bind mount of `source` at `target` */
      type: 'bind';
      /** an absolute path on the host, a directory or a file (the target must be of the same kind) */
      source: string;
      /** an absolute path inside the sandbox */
      target: string;
      /** bind the mounts below `source` too (MS_REC); default true */
      recursive?: boolean;
    } & MountFlags)
  | ({
      /** a new tmpfs at `target` */
      type: 'tmpfs';
      /** an absolute directory inside the sandbox */
      target: string;
      /** bytes, or a size such as '64M' (K, M, G, T: powers of 1024); default the kernel's, half the RAM */
      size?: number | string;
      /** the root directory's mode, 0 to 0o7777; default the kernel's (0o1777) */
      mode?: number;
    } & MountFlags)
  | {
      /** a new proc at `target` (of the sandbox's pid namespace) */
      type: 'proc';
      /** an absolute directory inside the sandbox */
      target: string;
    }
  | {
      /** an OverlayMount, mounted at target in the sandbox's mount namespace only (userxattr in a user namespace) */
      type: 'overlay';
      /** not mounted on the host (else ERR_BUSY), and with its own upper and work (no tmpfs upper) */
      overlay: OverlayMount;
      /** an absolute directory inside the sandbox */
      target: string;
    };

interface ResolvedFlags {
  readonly: boolean;
  noexec: boolean;
  suid: boolean;
  dev: boolean;
}

export type ResolvedMount =
  | ({ type: 'bind'; source: string; target: string; recursive: boolean; sourceKind: 'dir' | 'file' } & ResolvedFlags)
  | ({ type: 'tmpfs'; target: string; size: number | null; mode: number | null } & ResolvedFlags)
  | { type: 'proc'; target: string }
  /** `data`: the mount(2) data, rendered by resolveSpawn once it knows whether there is a user namespace */
  | { type: 'overlay'; target: string; overlay: OverlayMount; data: string | null };

const FLAG_KEYS = ['readonly', 'noexec', 'suid', 'dev'] as const;

function resolveFlags(m: Record<string, unknown>, what: string): ResolvedFlags {
  const flag = (key: (typeof FLAG_KEYS)[number]): boolean => (m[key] === undefined ? false : checkBoolean(m[key], `${what}.${key}`));
  return { readonly: flag('readonly'), noexec: flag('noexec'), suid: flag('suid'), dev: flag('dev') };
}

function absolute(value: unknown, what: string): string {
  const p = checkString(value, what);
  if (!path.isAbsolute(p)) throw new NsgroupsError('ERR_INVALID_ARG', `${what} must be an absolute path, got '${p}'`);
  return path.normalize(p);
}

function kindOf(p: string, what: string): 'dir' | 'file' {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NsgroupsError(
      e.code === 'ENOENT' ? 'ERR_NOT_FOUND' : e.code === 'EACCES' ? 'ERR_PERMISSION' : 'ERR_SYSTEM',
      `${what} '${p}' ${e.code === 'ENOENT' ? 'does not exist' : `cannot be inspected (${e.code})`}` +
        (what.endsWith('target') ? ': without a rootfs, mount points must already exist (nsgroups never creates directories on the host)' : ''),
      { errno: e.errno, syscall: 'stat', path: p },
    );
  }
  return st.isDirectory() ? 'dir' : 'file';
}

function tmpfsSize(value: unknown, what: string): number {
  const size = parseByteSize(value, what);
  if (size === 'max')
    throw new NsgroupsError('ERR_INVALID_ARG', `${what}: a tmpfs needs a size ('64M'), not 'max'; leave it out for the kernel's default (half the memory)`);
  return size;
}

/**
 * Checks the shapes, and the sources on the host; the targets too when there is no rootfs (under
 * a rootfs they are made inside the sandbox's root).
 */
export function resolveMounts(value: unknown, underRootfs: boolean): ResolvedMount[] {
  const checkPaths = !underRootfs;
  if (value === undefined) return [];
  return checkArray(value, 'options.mounts').map((entry, i) => {
    const what = `options.mounts[${i}]`;
    const m = checkObject(entry, what);
    const type = checkOneOf(m.type, ['bind', 'tmpfs', 'proc', 'overlay'] as const, `${what}.type`);
    const target = absolute(m.target, `${what}.target`);
    if (target === '/')
      throw new NsgroupsError('ERR_INVALID_ARG', `${what}.target '/' is the root itself: mount below it, or give the directory as options.rootfs`);
    if (type === 'bind') {
      checkKeys(m, ['type', 'source', 'target', 'recursive', ...FLAG_KEYS], what);
      const source = absolute(m.source, `${what}.source`);
      const sourceKind = kindOf(source, `${what}.source`);
      if (checkPaths) {
        const t = kindOf(target, `${what}.target`);
        if (sourceKind !== t) {
          throw new NsgroupsError(
            'ERR_INVALID_ARG',
            `${what}: cannot bind a ${sourceKind === 'dir' ? 'directory' : 'file'} ('${source}') onto a ${t === 'dir' ? 'directory' : 'file'} ('${target}')`,
          );
        }
      }
      return {
        type,
        source,
        target,
        sourceKind,
        recursive: m.recursive === undefined ? true : checkBoolean(m.recursive, `${what}.recursive`),
        ...resolveFlags(m, what),
      };
    }
    if (checkPaths && kindOf(target, `${what}.target`) !== 'dir') {
      throw new NsgroupsError('ERR_INVALID_ARG', `${what}: a ${type} mount needs a directory as target, '${target}' is a file`);
    }
    if (type === 'tmpfs') {
      checkKeys(m, ['type', 'target', 'size', 'mode', ...FLAG_KEYS], what);
      return {
        type,
        target,
        size: m.size === undefined ? null : tmpfsSize(m.size, `${what}.size`),
        mode: m.mode === undefined ? null : checkInteger(m.mode, `${what}.mode`, 0, 0o7777),
        ...resolveFlags(m, what),
      };
    }
    if (type === 'overlay') {
      checkKeys(m, ['type', 'overlay', 'target'], what);
      if (!(m.overlay instanceof OverlayMount)) throw new NsgroupsError('ERR_INVALID_ARG', `${what}.overlay must be an OverlayMount`);
      const ov = m.overlay;
      if (ov.mounted) {
        throw new NsgroupsError('ERR_BUSY', `${what}.overlay is mounted on the host (at ${ov.target}): bind its target instead, or unmount it first`);
      }
      if (ov.tmpfs) {
        // a tmpfs upper is made on the root before the overlay covers it (rootfs.ts): a mount has no such place
        throw new NsgroupsError('ERR_INVALID_ARG', `${what}.overlay has a tmpfs upper, which only an overlay used as rootfs can have: give it upper and work`);
      }
      for (const dir of [...ov.lower, ...(ov.upper ? [ov.upper] : []), ...(ov.work ? [ov.work] : [])]) {
        if (kindOf(dir, `${what}.overlay layer`) !== 'dir') throw new NsgroupsError('ERR_INVALID_ARG', `${what}.overlay layer '${dir}' is not a directory`);
      }
      return { type, target, overlay: ov, data: null };
    }
    checkKeys(m, ['type', 'target'], what);
    return { type, target };
  });
}
