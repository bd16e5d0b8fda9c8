// spawn({ rootfs }): a directory or an OverlayMount as the sandbox's root. Everything happens in
// the child's own mount namespace (nothing reaches the host's mount table): the root is mounted
// (overlay) or bound (directory), mount points are made inside it, /proc, a minimal /dev, /tmp
// (and /sys) and the user's mounts go on, then pivot_root and the old root is detached
// (DESIGN.md "Overlay and root filesystems"; the order is bubblewrap's setup_newroot).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NativeConstants } from '../../types/native';
import { invalidArg, NsgroupsError, unsupported } from '../errors';
import { OverlayMount } from '../overlay/overlay-mount';
import type { ResolvedMount } from './mounts';
import type { PlannedOp } from './plan';

export interface ResolvedRootfs {
  /** where the root is assembled, on the host's path space (the overlay's target, or the directory) */
  root: string;
  overlay: OverlayMount | null;
  /** the overlay's mount(2) data, for an overlay mounted inside the sandbox */
  overlayData: string | null;
  readonly: boolean;
  sysfs: boolean;
}

const MS = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, BIND: 0x1000, REC: 0x4000 } as const;
const MOUNT_ATTR_RDONLY = 0x1;

/** Mount points the library makes in every rootfs. */
export const LIBRARY_MOUNTPOINTS = ['/proc', '/dev', '/tmp'] as const;
/** Host devices bound into the sandbox's /dev (bubblewrap's set). */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

function existingDir(p: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NsgroupsError(e.code === 'ENOENT' ? 'ERR_NOT_FOUND' : 'ERR_SYSTEM', `${what} '${p}' does not exist`, {
      errno: e.errno,
      syscall: 'stat',
      path: p,
    });
  }
  if (!st.isDirectory()) throw invalidArg(`${what} '${p}' is not a directory`);
}

export function resolveRootfs(value: unknown, opts: { readonly: boolean; sysfs: boolean; userns: boolean }): ResolvedRootfs {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw invalidArg('options.rootfs must not contain NUL bytes');
    if (!path.isAbsolute(value)) throw invalidArg(`options.rootfs must be an absolute path, got '${value}'`);
    const root = path.normalize(value);
    if (root === '/') throw invalidArg("options.rootfs '/' is the host's own root: give a directory holding the sandbox's root");
    existingDir(root, 'options.rootfs');
    return { root, overlay: null, overlayData: null, ...opts };
  }
  if (!(value instanceof OverlayMount)) throw invalidArg('options.rootfs must be a directory path or an OverlayMount');
  const ov = value;
  if (!ov.target) {
    throw invalidArg('an OverlayMount used as rootfs needs a target: the directory it is mounted on inside the sandbox');
  }
  existingDir(ov.target, 'the overlay target');
  if (ov.mounted) return { root: ov.target, overlay: null, overlayData: null, ...opts }; // mounted on the host: a directory
  for (const dir of [...ov.lower, ...(ov.upper ? [ov.upper] : []), ...(ov.work ? [ov.work] : [])]) existingDir(dir, 'the overlay layer');
  if (opts.userns) {
    // Inside a user namespace overlayfs needs userxattr (Linux 5.11): without it a mount may
    // succeed and then fail with EIO when a lower directory is removed.
    const [major, minor] = os.release().split('.').map(Number);
    if (major < 5 || (major === 5 && minor < 11)) {
      throw unsupported(`an overlay root inside a user namespace needs Linux 5.11 or newer (userxattr); this kernel is ${os.release()}`);
    }
  }
  return { root: ov.target, overlay: ov, overlayData: ov._mountData({ userxattr: opts.userns }), ...opts };
}

/**
 * The ops that assemble the root and pivot into it; `userMount(m, target)` renders one of the
 * user's mounts at a host-side target. `newPid`: a fresh /proc (else the host's is bound).
 */
export function rootfsOps(
  r: ResolvedRootfs,
  mounts: ResolvedMount[],
  k: NativeConstants['ops'],
  ctx: { newPid: boolean; ownNet: boolean },
  userMount: (m: ResolvedMount, target: string) => PlannedOp[],
): PlannedOp[] {
  const R = r.root;
  const at = (p: string): string => path.join(R, p);
  const ops: PlannedOp[] = [];
  const under = (p: string, dirs: string[]): boolean => dirs.some((d) => p === d || p.startsWith(d + '/'));
  const libraryDirs = [...LIBRARY_MOUNTPOINTS, ...(r.sysfs ? ['/sys'] : [])];
  // a user mount inside a library tmpfs gets its mount point after that tmpfs is there
  const late = (m: ResolvedMount): boolean => under(m.target, ['/dev', '/tmp']);
  const mountPoint = (m: ResolvedMount): PlannedOp[] => {
    const describe = `create the mount point '${m.target}' in the root`;
    if (m.type === 'bind' && !fs.statSync(m.source).isDirectory()) {
      return [
        { kind: k.mkdir, a: at(path.dirname(m.target)), mode: 0o755, describe, path: m.target },
        { kind: k.mkfile, a: at(m.target), mode: 0o644, describe, path: m.target },
      ];
    }
    return [{ kind: k.mkdir, a: at(m.target), mode: 0o755, describe, path: m.target }];
  };

  // 1. the root itself
  if (r.overlay && r.overlayData) {
    ops.push({ kind: k.mount, a: 'overlay', b: R, c: 'overlay', d: r.overlayData, describe: `mount the overlay root (lower ${r.overlay.lower.join(':')}) on '${R}'`, path: R });
  } else {
    ops.push({ kind: k.mount, a: R, b: R, flags: MS.BIND | MS.REC, describe: `bind the root directory '${R}' onto itself`, path: R });
  }
  // 2. mount points in the root, while it can still be written
  for (const d of libraryDirs) ops.push({ kind: k.mkdir, a: at(d), mode: 0o755, describe: `create the mount point '${d}' in the root`, path: d });
  for (const m of mounts) if (!late(m)) ops.push(...mountPoint(m));
  // 3. read-only root: recursively (mount_setattr), before anything is mounted on top
  if (r.readonly) {
    ops.push({ kind: k.mountSetattr, a: R, flags: MOUNT_ATTR_RDONLY, flags2: 1, describe: 'make the root read-only', path: '/' });
  }
  // 4. /proc (before the old root goes: a new proc needs a fully visible one, DESIGN.md)
  if (ctx.newPid) {
    ops.push({ kind: k.mount, a: 'proc', b: at('/proc'), c: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, describe: 'mount a fresh proc on /proc', path: '/proc' });
  } else {
    ops.push({ kind: k.mount, a: '/proc', b: at('/proc'), flags: MS.BIND | MS.REC, describe: "bind the host's /proc (no new pid namespace)", path: '/proc' });
  }
  // 5. a minimal /dev: a tmpfs with the host's harmless devices bound in, devpts, shm
  const dev = (p: string): string => at(path.join('/dev', p));
  ops.push({ kind: k.mount, a: 'tmpfs', b: at('/dev'), c: 'tmpfs', d: 'mode=0755,size=64k', flags: MS.NOSUID | MS.NOEXEC, describe: 'mount a tmpfs on /dev', path: '/dev' });
  for (const d of DEVICES) {
    ops.push({ kind: k.mkfile, a: dev(d), mode: 0o666, describe: `create /dev/${d}`, path: `/dev/${d}` });
    ops.push({ kind: k.mount, a: `/dev/${d}`, b: dev(d), flags: MS.BIND, describe: `bind the host's /dev/${d}`, path: `/dev/${d}` });
  }
  ops.push({ kind: k.mkdir, a: dev('pts'), mode: 0o755, describe: 'create /dev/pts', path: '/dev/pts' });
  ops.push({ kind: k.mount, a: 'devpts', b: dev('pts'), c: 'devpts', d: 'newinstance,ptmxmode=0666,mode=620', flags: MS.NOSUID | MS.NOEXEC, describe: 'mount a devpts instance on /dev/pts', path: '/dev/pts' });
  ops.push({ kind: k.symlink, a: 'pts/ptmx', b: dev('ptmx'), describe: 'link /dev/ptmx', path: '/dev/ptmx' });
  ops.push({ kind: k.mkdir, a: dev('shm'), mode: 0o755, describe: 'create /dev/shm', path: '/dev/shm' });
  ops.push({ kind: k.mount, a: 'tmpfs', b: dev('shm'), c: 'tmpfs', d: 'mode=1777', flags: MS.NOSUID | MS.NODEV, describe: 'mount a tmpfs on /dev/shm', path: '/dev/shm' });
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) {
    ops.push({ kind: k.symlink, a: target, b: dev(name), describe: `link /dev/${name}`, path: `/dev/${name}` });
  }
  // 6. /sys, read-only: a fresh sysfs shows the sandbox's own net namespace; it may be mounted
  //    only by the owner of that namespace, else the host's is bound
  if (r.sysfs) {
    if (ctx.ownNet) {
      ops.push({ kind: k.mount, a: 'sysfs', b: at('/sys'), c: 'sysfs', flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, describe: 'mount sysfs on /sys, read-only', path: '/sys' });
    } else {
      ops.push({ kind: k.mount, a: '/sys', b: at('/sys'), flags: MS.BIND | MS.REC, describe: "bind the host's /sys", path: '/sys' });
      ops.push({ kind: k.mountSetattr, a: at('/sys'), flags: MOUNT_ATTR_RDONLY, flags2: 1, describe: 'make /sys read-only', path: '/sys' });
    }
  }
  // 7. /tmp
  ops.push({ kind: k.mount, a: 'tmpfs', b: at('/tmp'), c: 'tmpfs', d: 'mode=1777', flags: MS.NOSUID | MS.NODEV, describe: 'mount a tmpfs on /tmp', path: '/tmp' });
  // 8. the user's mounts, at their places in the root
  for (const m of mounts) {
    if (late(m)) ops.push(...mountPoint(m));
    ops.push(...userMount(m, at(m.target)));
  }
  // 9. into the new root; the old one is detached
  ops.push({ kind: k.pivotRoot, a: R, describe: `pivot_root into '${R}'`, path: R });
  return ops;
}
