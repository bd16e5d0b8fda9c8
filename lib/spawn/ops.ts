// The ops of a spawn plan (enum nsg_op_kind in src-native/child.h), with every field of the
// schema filled, and the mount flags they carry.
import type { NativeOp } from '../../types/native';
import type { native } from '../native';
import type { ResolvedMount } from './mounts';
import type { ResolvedSpawn } from './options';

// mount(2) flags
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  REC: 0x4000,
  SLAVE: 0x80000,
} as const;

// mount_setattr(2) MOUNT_ATTR_* flags
export const ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;

/** The op list with what each op stands for, so that a failure can name its path. */
export interface PlannedOp extends NativeOp {
  /** what the user would call it: "mount proc on /proc" */
  describe: string;
  /** the path a failure concerns (inside the sandbox's root, under a rootfs) */
  path?: string;
  /** a mount point the library makes in a rootfs (/proc, /dev, /tmp, /sys): symlinks refused */
  library?: boolean;
  /** an op over a list (data): the path each entry concerns, for a failure that names its entry */
  items?: string[];
}

type OpFields = Partial<NativeOp> & Pick<NativeOp, 'kind'> & Pick<PlannedOp, 'describe' | 'path' | 'library' | 'items'>;

/** An op with every field of the schema: what is not said is null, 0 or false. */
export function op(fields: OpFields): PlannedOp {
  return {
    source: null,
    target: null,
    fstype: null,
    data: null,
    flags: 0,
    attr: 0,
    mode: 0,
    recursive: false,
    inRoot: false,
    noSymlinks: false,
    ...fields,
  };
}

export type Ops = ReturnType<typeof native>['constants']['ops'];

/** mount_setattr flags of a bind or tmpfs: nosuid and nodev unless asked for. */
function mountAttr(m: { readonly: boolean; noexec: boolean; suid: boolean; dev: boolean }): number {
  return (m.readonly ? ATTR.RDONLY : 0) | (m.suid ? 0 : ATTR.NOSUID) | (m.dev ? 0 : ATTR.NODEV) | (m.noexec ? ATTR.NOEXEC : 0);
}

function attrToMs(attr: number): number {
  return (
    (attr & ATTR.RDONLY ? MS.RDONLY : 0) | (attr & ATTR.NOSUID ? MS.NOSUID : 0) | (attr & ATTR.NODEV ? MS.NODEV : 0) | (attr & ATTR.NOEXEC ? MS.NOEXEC : 0)
  );
}

/** One of the user's mounts at its target: inside the rootfs (inRoot), or a path of ours. */
export function userMountOps(m: ResolvedMount, k: Ops, inRoot: boolean): PlannedOp[] {
  const at = { target: m.target, inRoot, path: m.target };
  if (m.type === 'bind') {
    return [op({ kind: k.bind, source: m.source, ...at, recursive: m.recursive, attr: mountAttr(m), describe: `bind-mount '${m.source}' on '${m.target}'` })];
  }
  if (m.type === 'tmpfs') {
    const data = [m.size !== null ? `size=${m.size}` : '', m.mode !== null ? `mode=0${m.mode.toString(8)}` : ''].filter(Boolean).join(',');
    return [
      op({
        kind: k.mount,
        source: 'tmpfs',
        fstype: 'tmpfs',
        data: data || null,
        flags: attrToMs(mountAttr(m)),
        ...at,
        describe: `mount a tmpfs on '${m.target}'`,
      }),
    ];
  }
  if (m.type === 'overlay') {
    const lower = m.overlay.lower.join(':');
    return [
      op({
        kind: k.mount,
        source: 'overlay',
        fstype: 'overlay',
        data: m.data,
        flags: MS.NOSUID | MS.NODEV | (m.overlay.readonly ? MS.RDONLY : 0),
        ...at,
        describe: `mount the overlay (lower ${lower}) on '${m.target}'`,
      }),
    ];
  }
  return [op({ kind: k.mount, source: 'proc', fstype: 'proc', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, ...at, describe: `mount proc on '${m.target}'` })];
}

/**
 * The kernel paths the command must not read (masked) or change (read-only), after /proc and
 * /sys are in place: inside the rootfs, or in the sandbox's view of the host's filesystem. One
 * op per list (its paths newline-separated in data): the child walks it.
 */
export function maskOps(spec: Pick<ResolvedSpawn, 'maskedPaths' | 'readonlyPaths'>, k: Ops, inRoot: boolean): PlannedOp[] {
  const ops: PlannedOp[] = [];
  if (spec.maskedPaths.length) {
    ops.push(
      op({
        kind: k.mask,
        source: '/dev/null',
        data: spec.maskedPaths.join('\n'),
        inRoot,
        describe: 'hide the masked paths (maskedPaths)',
        items: spec.maskedPaths,
      }),
    );
  }
  if (spec.readonlyPaths.length) {
    ops.push(
      op({
        kind: k.readonly,
        data: spec.readonlyPaths.join('\n'),
        inRoot,
        describe: 'make the read-only paths read-only (readonlyPaths)',
        items: spec.readonlyPaths,
      }),
    );
  }
  return ops;
}
