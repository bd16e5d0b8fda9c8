// OverlayMount's options: the public types, their validation into a ResolvedOverlay (plain data,
// checked without touching the filesystem), and the rendering of overlayfs' mount data string,
// shared by host mounts and the mounts spawn({ rootfs }) makes inside a sandbox.
import * as path from 'node:path';
import { invalidArg } from '../errors';
import { parseByteSize } from '../util/units';
import { checkArray, checkBoolean, checkKeys, checkObject, checkOneOf, checkString } from '../util/validate';

/** overlayfs' redirect_dir= modes (Documentation/filesystems/overlayfs.rst, "Renaming directories"). */
export type RedirectDirMode = 'on' | 'follow' | 'nofollow' | 'off';

/**
 * new OverlayMount()'s options: the layers (absolute paths), where to mount, and overlayfs' own
 * options. Checked in the constructor (ERR_INVALID_ARG), without touching the filesystem.
 */
export interface OverlayMountOptions {
  /** the read-only layers, topmost first (like lowerdir=); at least one */
  lower: readonly string[];
  /** the writable layer; omit upper and work for a read-only overlay */
  upper?: string;
  /** overlayfs' scratch directory: empty, on the same filesystem as upper */
  work?: string;
  /** where mount() mounts the merged view on the host (not needed to hand the overlay to spawn) */
  target?: string;
  /** mount read-only (default: true without an upper layer, else false) */
  readonly?: boolean;
  /** keep overlayfs' markers in user.overlay.* xattrs instead of trusted.overlay.* (Linux 5.11+;
   *  always used for mounts inside a user namespace). Default false on the host. */
  userxattr?: boolean;
  /** no syncs to the upper filesystem while mounted (Linux 5.10+). unmount() syncs once and
   *  clears overlayfs' volatile marker; after a lazy unmount the marker stays (the kernel may
   *  still be writing) and the next mount of these dirs is refused until it is removed. Default false */
  volatile?: boolean;
  /** rename directories of lower layers by recording a redirect (true = 'on'); default: the kernel's (its redirect_dir setting) */
  redirectDir?: boolean | RedirectDirMode;
  /** copy up only the metadata of a file whose attributes change (implies redirectDir 'on'); default: the kernel's */
  metacopy?: boolean;
  /**
   * A throw-away writable layer: upper and work on a tmpfs of their own, made inside the
   * sandbox that uses this overlay as its rootfs and gone with it (nothing is written on the
   * host; nothing to clean up). `{ size: '64M' }` caps what the sandbox may write (default: the
   * kernel's, half the memory). Instead of upper and work; only for spawn's rootfs.
   */
  tmpfs?:
    | boolean
    | {
        /** bytes, or a size such as '64M' (powers of 1024); default the kernel's, half the memory */
        size?: number | string;
      };
}

export interface ResolvedOverlay {
  lower: string[];
  upper: string | undefined;
  work: string | undefined;
  target: string | undefined;
  readonly: boolean;
  userxattr: boolean;
  volatile: boolean;
  redirectDir: RedirectDirMode | undefined;
  metacopy: boolean | undefined;
  /** a throw-away upper on a tmpfs (its size in bytes, or null for the kernel's), or null */
  tmpfs: { size: number | null } | null;
}

export const OVERLAY_OPTION_KEYS = ['lower', 'upper', 'work', 'target', 'readonly', 'userxattr', 'volatile', 'redirectDir', 'metacopy', 'tmpfs'] as const;

const NOTES: Record<string, string> = {
  lowerdir: "use lower: ['/top', '/bottom'] (an array, topmost first)",
  upperdir: 'use upper',
  workdir: 'use work',
  merged: 'use target (the mount point)',
  mountpoint: 'use target',
  ro: 'use readonly',
};

/** overlayfs stacks at most 500 lower layers (OVL_MAX_STACK, fs/overlayfs/params.h). */
export const MAX_LOWER_LAYERS = 500;

/**
 * mount(2) copies at most one page of option data and cuts the rest (path_mount terminates the
 * page at PAGE_SIZE - 1), which would silently drop layers: refuse longer strings.
 */
export const MAX_MOUNT_DATA = 4095;

function checkPath(value: unknown, what: string): string {
  const p = checkString(value, what);
  // normalised and absolute: the same path must mean the same directory when a sandbox's child
  // mounts it from another working directory
  return path.resolve(p);
}

/** True when `a` is `b` or lies below it (lexically, on normalised absolute paths). */
export function isSameOrInside(a: string, b: string): boolean {
  if (a === b) return true;
  const base = b.endsWith('/') ? b : b + '/';
  return a.startsWith(base);
}

/** Refuses any two of the named paths that are the same directory or nested in each other. */
export function checkNoOverlap(named: Array<[string, string]>, how = ''): void {
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const [nameA, a] = named[i];
      const [nameB, b] = named[j];
      if (!isSameOrInside(a, b) && !isSameOrInside(b, a)) continue;
      const clash =
        a === b
          ? `${nameA} and ${nameB} are the same directory (${a})`
          : isSameOrInside(a, b)
            ? `${nameA} (${a}) lies inside ${nameB} (${b})`
            : `${nameB} (${b}) lies inside ${nameA} (${a})`;
      throw invalidArg(
        `${clash}${how}: overlayfs layers, the work dir and the mount point must be separate directory trees ` +
          '(overlayfs refuses overlapping layers, and a mount over a layer would hide it)',
      );
    }
  }
}

export function layerNames(o: Pick<ResolvedOverlay, 'lower' | 'upper' | 'work' | 'target'>): Array<[string, string]> {
  const named: Array<[string, string]> = o.lower.map((l, i) => [`lower[${i}]`, l]);
  if (o.upper !== undefined) named.push(['upper', o.upper]);
  if (o.work !== undefined) named.push(['work', o.work]);
  if (o.target !== undefined) named.push(['target', o.target]);
  return named;
}

function resolveTmpfs(value: unknown): ResolvedOverlay['tmpfs'] {
  if (value === undefined || value === false) return null;
  if (value === true) return { size: null };
  const o = checkObject(value, 'OverlayMount options.tmpfs');
  checkKeys(o, ['size'], 'OverlayMount options.tmpfs');
  if (o.size === undefined) return { size: null };
  const size = parseByteSize(o.size, 'OverlayMount options.tmpfs.size');
  if (size === 'max') throw invalidArg("OverlayMount options.tmpfs.size: a tmpfs needs a size ('64M'); leave it out for the kernel's default");
  return { size };
}

export function resolveOverlayOptions(options: unknown): ResolvedOverlay {
  const o = checkObject(options, 'OverlayMount options');
  checkKeys(o, OVERLAY_OPTION_KEYS, 'OverlayMount options', NOTES);

  if (o.lower === undefined) throw invalidArg("OverlayMount options: 'lower' is required (the read-only layers, topmost first)");
  const lowerList = checkArray(o.lower, 'OverlayMount options.lower');
  if (lowerList.length === 0) throw invalidArg('OverlayMount options.lower must name at least one directory');
  if (lowerList.length > MAX_LOWER_LAYERS) {
    throw invalidArg(`OverlayMount options.lower has ${lowerList.length} layers; overlayfs stacks at most ${MAX_LOWER_LAYERS}`);
  }
  const lower = lowerList.map((l, i) => checkPath(l, `OverlayMount options.lower[${i}]`));
  const tmpfs = resolveTmpfs(o.tmpfs);
  if (tmpfs && (o.upper !== undefined || o.work !== undefined)) {
    throw invalidArg('OverlayMount options: tmpfs gives the overlay a throw-away upper and work of its own: leave upper and work out, or tmpfs');
  }
  if (tmpfs && o.readonly === true) throw invalidArg('OverlayMount options: tmpfs makes a writable layer; readonly: true wants none');
  const upper = o.upper === undefined ? undefined : checkPath(o.upper, 'OverlayMount options.upper');
  const work = o.work === undefined ? undefined : checkPath(o.work, 'OverlayMount options.work');
  const target = o.target === undefined ? undefined : checkPath(o.target, 'OverlayMount options.target');
  if ((upper === undefined) !== (work === undefined)) {
    throw invalidArg(
      'OverlayMount options: upper and work go together (overlayfs needs a work dir on the upper filesystem); ' +
        'give both for a writable overlay, or neither for a read-only one',
    );
  }
  const readonly = o.readonly === undefined ? upper === undefined && !tmpfs : checkBoolean(o.readonly, 'OverlayMount options.readonly');
  if (!readonly && upper === undefined && !tmpfs) {
    throw invalidArg('OverlayMount options: readonly: false needs an upper layer (give upper and work)');
  }
  if (upper === undefined && !tmpfs && lower.length < 2) {
    throw invalidArg(
      'OverlayMount options: a read-only overlay (no upper) needs at least 2 lower layers ' +
        "(overlayfs: 'at least 2 lowerdir are needed while upperdir nonexistent'); for a read-only view " +
        'of one directory use a read-only bind mount, or add upper and work',
    );
  }
  checkNoOverlap(layerNames({ lower, upper, work, target }));

  const userxattr = o.userxattr === undefined ? false : checkBoolean(o.userxattr, 'OverlayMount options.userxattr');
  const volatile = o.volatile === undefined ? false : checkBoolean(o.volatile, 'OverlayMount options.volatile');
  if (volatile && upper === undefined) {
    throw invalidArg('OverlayMount options: volatile applies to the upper layer; a read-only overlay has none');
  }
  let redirectDir: RedirectDirMode | undefined;
  if (typeof o.redirectDir === 'boolean') redirectDir = o.redirectDir ? 'on' : 'off';
  else if (o.redirectDir !== undefined) {
    redirectDir = checkOneOf(o.redirectDir, ['on', 'follow', 'nofollow', 'off'] as const, 'OverlayMount options.redirectDir');
  }
  const metacopy = o.metacopy === undefined ? undefined : checkBoolean(o.metacopy, 'OverlayMount options.metacopy');
  const resolved: ResolvedOverlay = { lower, upper, work, target, readonly, userxattr, volatile, redirectDir, metacopy, tmpfs };
  checkFeatureCombination(resolved, userxattr);
  return resolved;
}

/**
 * The combinations overlayfs refuses with EINVAL (fs/overlayfs/params.c, ovl_fs_params_verify),
 * refused here first with the reason: with userxattr, redirect_dir may only be 'nofollow' and
 * metacopy only off; metacopy=on needs redirect_dir=on.
 */
export function checkFeatureCombination(o: ResolvedOverlay, userxattr: boolean): void {
  if (userxattr && o.redirectDir !== undefined && o.redirectDir !== 'nofollow') {
    throw invalidArg(
      `OverlayMount: redirectDir '${o.redirectDir}' cannot be combined with userxattr (overlayfs follows no ` +
        "redirects under user.* xattrs: an unprivileged user could forge them); leave redirectDir unset or 'nofollow'",
    );
  }
  if (userxattr && o.metacopy === true) {
    throw invalidArg('OverlayMount: metacopy cannot be combined with userxattr (overlayfs refuses it, like redirectDir)');
  }
  if (o.metacopy === true && o.redirectDir !== undefined && o.redirectDir !== 'on') {
    throw invalidArg(`OverlayMount: metacopy needs redirectDir 'on' (a metadata-only copy records where its data lives); got '${o.redirectDir}'`);
  }
}

/**
 * A path as overlayfs' option parser reads it: ',' separates options, ':' separates lower layers,
 * and '\' escapes the next character in both (fs/overlayfs/params.c: ovl_next_opt,
 * ovl_parse_param_split_lowerdirs, ovl_unescape — also for upperdir= and workdir=).
 */
export function escapeOverlayPath(p: string): string {
  return p.replace(/[\\,:]/g, (c) => '\\' + c);
}

export interface MountDataOptions {
  /** mounted inside a user namespace (or by choice): markers in user.overlay.* (Linux 5.11+) */
  userxattr: boolean;
  /** an upper dir to use instead of the overlay's own (e.g. one inside the sandbox) */
  upper?: string;
  /** the work dir that goes with that upper */
  work?: string;
}

/** The data string for mount(2): lowerdir=…[,upperdir=…,workdir=…][,userxattr][,redirect_dir=…][,metacopy=…][,volatile]. */
export function renderMountData(o: ResolvedOverlay, opts: MountDataOptions): string {
  const upper = opts.upper === undefined ? o.upper : checkPath(opts.upper, 'mount data: upper');
  const work = opts.work === undefined ? o.work : checkPath(opts.work, 'mount data: work');
  if ((upper === undefined) !== (work === undefined)) throw invalidArg('mount data: upper and work go together');
  if (opts.upper !== undefined || opts.work !== undefined) checkNoOverlap(layerNames({ lower: o.lower, upper, work, target: undefined }));
  checkFeatureCombination(o, opts.userxattr);
  const parts = [`lowerdir=${o.lower.map(escapeOverlayPath).join(':')}`];
  if (upper !== undefined && work !== undefined) {
    parts.push(`upperdir=${escapeOverlayPath(upper)}`, `workdir=${escapeOverlayPath(work)}`);
  }
  if (opts.userxattr) parts.push('userxattr');
  if (o.redirectDir !== undefined) parts.push(`redirect_dir=${o.redirectDir}`);
  if (o.metacopy !== undefined) parts.push(`metacopy=${o.metacopy ? 'on' : 'off'}`);
  if (o.volatile && upper !== undefined) parts.push('volatile');
  const data = parts.join(',');
  const size = Buffer.byteLength(data);
  if (size > MAX_MOUNT_DATA) {
    throw invalidArg(
      `the overlay's mount options take ${size} bytes, and mount(2) reads at most ${MAX_MOUNT_DATA} (one page): ` +
        'use fewer layers or shorter paths (a short symlink to a layer works: overlayfs follows it)',
    );
  }
  return data;
}
