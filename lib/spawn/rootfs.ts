// spawn({ rootfs }): a directory or an OverlayMount as the sandbox's root. Everything happens in
// the child's own mount namespace (nothing reaches the host's mount table): the root is mounted
// (overlay) or bound (directory), mount points are made inside it, /proc, a minimal /dev, /tmp
// (and /sys) and the user's mounts go on, then pivot_root and the old root is detached
// (DESIGN.md "Overlay and root filesystems"; the order is bubblewrap's setup_newroot).
// The rootfs may be hostile: every path in it is resolved inside it by the child (inRoot ops,
// openat2 RESOLVE_IN_ROOT), and the library's own mount points may not be symlinks at all.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { invalidArg, NsgroupsError, unsupported } from '../errors';
import { OverlayMount } from '../overlay/overlay-mount';
import type { ResolvedMount } from './mounts';
import { ATTR, MS, op, userMountOps, type Ops, type PlannedOp } from './ops';

export interface ResolvedRootfs {
  /** where the root is assembled, on the host's path space (the overlay's target, or the directory) */
  root: string;
  overlay: OverlayMount | null;
  /** the overlay's mount(2) data, for an overlay mounted inside the sandbox */
  overlayData: string | null;
  /** the overlay's throw-away upper: a tmpfs mounted on the root first (mount(2) data), or null */
  scratchData: string | null;
  readonly: boolean;
  sysfs: boolean;
}

// where a tmpfs upper keeps upper and work: in the tmpfs the overlay is then mounted over
const SCRATCH_UPPER = '/.nsgroups-upper';
const SCRATCH_WORK = '/.nsgroups-work';

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

/** Inside a user namespace overlayfs needs userxattr (Linux 5.11): without it a mount may succeed
 *  and then fail with EIO when a lower directory is removed. */
export function checkOverlayInUserns(what: string): void {
  const [major, minor] = os.release().split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 11)) {
    throw unsupported(`${what} inside a user namespace needs Linux 5.11 or newer (userxattr); this kernel is ${os.release()}`);
  }
}

export function resolveRootfs(value: unknown, opts: { readonly: boolean; sysfs: boolean; userns: boolean }): ResolvedRootfs {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw invalidArg('options.rootfs must not contain NUL bytes');
    if (!path.isAbsolute(value)) throw invalidArg(`options.rootfs must be an absolute path, got '${value}'`);
    const root = path.normalize(value);
    if (root === '/') throw invalidArg("options.rootfs '/' is the host's own root: give a directory holding the sandbox's root");
    existingDir(root, 'options.rootfs');
    return { root, overlay: null, overlayData: null, scratchData: null, ...opts };
  }
  if (!(value instanceof OverlayMount)) throw invalidArg('options.rootfs must be a directory path or an OverlayMount');
  const ov = value;
  if (!ov.target) {
    throw invalidArg('an OverlayMount used as rootfs needs a target: the directory it is mounted on inside the sandbox');
  }
  existingDir(ov.target, 'the overlay target');
  if (ov.mounted) return { root: ov.target, overlay: null, overlayData: null, scratchData: null, ...opts }; // mounted on the host: a directory
  for (const dir of [...ov.lower, ...(ov.upper ? [ov.upper] : []), ...(ov.work ? [ov.work] : [])]) existingDir(dir, 'the overlay layer');
  if (opts.userns) checkOverlayInUserns('an overlay root');
  const tmpfs = ov.tmpfs;
  if (tmpfs) {
    const R = path.normalize(ov.target);
    return {
      root: R,
      overlay: ov,
      overlayData: ov._mountData({ userxattr: opts.userns, upper: path.join(R, SCRATCH_UPPER), work: path.join(R, SCRATCH_WORK) }),
      scratchData: ['mode=0755', tmpfs.size !== null ? `size=${tmpfs.size}` : ''].filter(Boolean).join(','),
      ...opts,
    };
  }
  return { root: ov.target, overlay: ov, overlayData: ov._mountData({ userxattr: opts.userns }), scratchData: null, ...opts };
}

/** The ops that assemble the root and pivot into it. `newPid`: a fresh /proc (else the host's is bound). */
export function rootfsOps(
  r: ResolvedRootfs,
  mounts: ResolvedMount[],
  k: Ops,
  ctx: { newPid: boolean; ownNet: boolean; earlyIds: boolean },
  masks: PlannedOp[],
): PlannedOp[] {
  const R = r.root;
  const ops: PlannedOp[] = [];
  // paths inside the root; the library's own may not be symlinks (a rootfs whose /tmp points
  // at /etc would otherwise get our tmpfs there)
  const lib = (target: string): Pick<PlannedOp, 'target' | 'inRoot' | 'noSymlinks' | 'path' | 'library'> => ({
    target,
    inRoot: true,
    noSymlinks: true,
    path: target,
    library: true,
  });
  const under = (p: string, dirs: string[]): boolean => dirs.some((d) => p === d || p.startsWith(d + '/'));
  const libraryDirs = [...LIBRARY_MOUNTPOINTS, ...(r.sysfs ? ['/sys'] : [])];
  // a user mount inside a library tmpfs, or inside a tmpfs of the user's mounts listed before it,
  // gets its mount point after that tmpfs is there (in the tmpfs, not in the root below it)
  const tmpfsBefore = (m: ResolvedMount): string[] =>
    mounts
      .slice(0, mounts.indexOf(m))
      .filter((t) => t.type === 'tmpfs' && t.target !== m.target)
      .map((t) => t.target);
  const late = (m: ResolvedMount): boolean => under(m.target, ['/dev', '/tmp', ...tmpfsBefore(m)]);
  const inside = (m: ResolvedMount): boolean => under(m.target, ['/dev']);
  const mountPoint = (m: ResolvedMount): PlannedOp[] => {
    const describe = `create the mount point '${m.target}' in the root`;
    // under the library's /dev no symlink is expected; elsewhere one is followed inside the root
    const where = { inRoot: true, noSymlinks: inside(m), path: m.target };
    if (m.type === 'bind' && m.sourceKind === 'file') {
      return [
        op({ kind: k.mkdir, target: path.posix.dirname(m.target), mode: 0o755, describe, ...where }),
        op({ kind: k.mkfile, target: m.target, mode: 0o644, describe, ...where }),
      ];
    }
    return [op({ kind: k.mkdir, target: m.target, mode: 0o755, describe, ...where })];
  };

  // 1. the root itself, on its host path (the caller's own), then held as the root all other
  //    paths are resolved in. A throw-away upper: a tmpfs on the root first, with upper and
  //    work in it, and the overlay over that tmpfs (its layers are resolved before it covers it)
  if (r.scratchData) {
    ops.push(
      op({
        kind: k.mount,
        source: 'tmpfs',
        target: R,
        fstype: 'tmpfs',
        data: r.scratchData,
        flags: MS.NOSUID | MS.NODEV,
        describe: `mount a tmpfs for the overlay's throw-away upper on '${R}'`,
        path: R,
      }),
    );
    ops.push(op({ kind: k.root, target: R, describe: `open the tmpfs on '${R}'`, path: R }));
    for (const d of [SCRATCH_UPPER, SCRATCH_WORK])
      ops.push(
        op({
          kind: k.mkdir,
          target: d,
          mode: 0o755,
          inRoot: true,
          noSymlinks: true,
          describe: `create the overlay's ${d.slice(11)} dir in its tmpfs`,
          path: d,
        }),
      );
  }
  if (r.overlay && r.overlayData) {
    ops.push(
      op({
        kind: k.mount,
        source: 'overlay',
        target: R,
        fstype: 'overlay',
        data: r.overlayData,
        describe: `mount the overlay root (lower ${r.overlay.lower.join(':')}) on '${R}'`,
        path: R,
      }),
    );
  } else {
    ops.push(op({ kind: k.bind, source: R, target: R, recursive: true, describe: `bind the root directory '${R}' onto itself`, path: R }));
  }
  ops.push(op({ kind: k.root, target: R, describe: `open the root '${R}'`, path: R }));
  // 2. mount points in the root, while it can still be written
  for (const d of libraryDirs) ops.push(op({ kind: k.mkdir, mode: 0o755, describe: `create the mount point '${d}' in the root`, ...lib(d) }));
  for (const m of mounts) if (!late(m)) ops.push(...mountPoint(m));
  // the caller's own id may be unmapped in the user namespace: it could make the mount points
  // in a directory root it owns, but own nothing in the filesystems mounted from here on
  if (ctx.earlyIds) ops.push(op({ kind: k.earlyIds, describe: "take the sandbox's identity" }));
  // 3. read-only root: recursively (mount_setattr), before anything is mounted on top
  if (r.readonly) {
    ops.push(op({ kind: k.setattr, target: '/', inRoot: true, attr: ATTR.RDONLY, recursive: true, describe: 'make the root read-only', path: '/' }));
  }
  // 4. /proc (before the old root goes: a new proc needs a fully visible one, DESIGN.md)
  if (ctx.newPid) {
    ops.push(
      op({ kind: k.mount, source: 'proc', fstype: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, describe: 'mount a fresh proc on /proc', ...lib('/proc') }),
    );
  } else {
    ops.push(
      op({
        kind: k.bind,
        source: '/proc',
        recursive: true,
        attr: ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC,
        describe: "bind the host's /proc (no new pid namespace)",
        ...lib('/proc'),
      }),
    );
  }
  // 5. a minimal /dev: a tmpfs with the host's harmless devices bound in (not nodev: they are
  //    devices), devpts, shm, the fd links (one op: the child makes them all)
  const devItems = ['/dev', ...DEVICES.map((d) => `/dev/${d}`), '/dev/pts', '/dev/ptmx', '/dev/shm', '/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr'];
  ops.push(op({ kind: k.dev, data: DEVICES.join('\n'), describe: 'set up the minimal /dev', items: devItems, ...lib('/dev') }));
  // 6. /sys, read-only: a fresh sysfs shows the sandbox's own net namespace; it may be mounted
  //    only by the owner of that namespace, else the host's is bound
  if (r.sysfs) {
    if (ctx.ownNet) {
      ops.push(
        op({
          kind: k.mount,
          source: 'sysfs',
          fstype: 'sysfs',
          flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC,
          describe: 'mount sysfs on /sys, read-only',
          ...lib('/sys'),
        }),
      );
    } else {
      ops.push(
        op({
          kind: k.bind,
          source: '/sys',
          recursive: true,
          attr: ATTR.RDONLY | ATTR.NOSUID | ATTR.NODEV | ATTR.NOEXEC,
          describe: "bind the host's /sys, read-only",
          ...lib('/sys'),
        }),
      );
    }
  }
  // 7. the kernel paths hidden or read-only, now that /proc and /sys are there
  ops.push(...masks);
  // 8. /tmp
  ops.push(
    op({ kind: k.mount, source: 'tmpfs', fstype: 'tmpfs', data: 'mode=1777', flags: MS.NOSUID | MS.NODEV, describe: 'mount a tmpfs on /tmp', ...lib('/tmp') }),
  );
  // 9. the user's mounts, at their places in the root
  for (const m of mounts) {
    if (late(m)) ops.push(...mountPoint(m));
    ops.push(...userMountOps(m, k, true));
  }
  // 10. into the new root; the old one is detached
  ops.push(op({ kind: k.pivotRoot, describe: `pivot_root into '${R}'`, path: R }));
  return ops;
}
