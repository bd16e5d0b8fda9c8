// OverlayMount: a stack of layer directories mounted as one (API.md "OverlayMount"). On the host,
// mount()/unmount() as root; handed to spawn({ rootfs }), the same validated options render the
// mount data the sandbox's child mounts with (_mountData). changes() and commit() read the upper
// dir itself, so they work whether or not anything is mounted.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { fromNodeError, invalidArg, NsgroupsError, unsupported } from '../errors';
import { checkArray, checkBoolean, checkKeys, checkObject, checkString } from '../util/validate';
import { native } from '../native';
import { diffOverlay, type OverlayChange } from './changes';
import { checkLayersOnDisk, VOLATILE_MARKER } from './check';
import { commitUpper, removeTree } from './commit';
import { checkParameters, explainInvalidMount } from './features';
import { detectMarkerPrefix, LayerStack, lstatOrNull, type MarkerPrefix, TRUSTED_PREFIX, USER_PREFIX } from './layers';
import { readMountinfo, topMountAt } from './mountinfo';
import {
  checkNoOverlap,
  layerNames,
  type MountDataOptions,
  type OverlayMountOptions,
  renderMountData,
  resolveOverlayOptions,
  type ResolvedOverlay,
} from './options';
import { errnoOf, fsConstants, rethrowNative, setTimes } from './syscalls';

/** ov.unmount()'s options. */
export interface OverlayUnmountOptions {
  /** detach now and let the kernel finish when the last user is gone (umount2 MNT_DETACH); default false */
  lazy?: boolean;
}

/** ov.changes()'s options. */
export interface OverlayChangesOptions {
  /** paths in the merged view (e.g. '/run') not to report when only the upper dir has them */
  ignore?: string[];
}

/** ov.commit()'s options. */
export interface OverlayCommitOptions {
  /** write the new layer's opaque markers as user.overlay.* (true) or trusted.overlay.* (false);
   *  default: the prefix the upper dir was written with */
  userxattr?: boolean;
}

function busy(message: string, extra: { syscall?: string; errno?: number; path?: string } = {}): NsgroupsError {
  return new NsgroupsError('ERR_BUSY', message, extra);
}

function viewPath(value: unknown, what: string): string {
  const p = checkString(value, what);
  if (!p.startsWith('/')) throw invalidArg(`${what} must be absolute inside the overlay (like '/proc'), got '${p}'`);
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/**
 * An overlayfs: read-only lower layers under one writable upper layer. Mount it on the host
 * (root), or hand it to spawn as `rootfs` or in `mounts`, which mounts it inside the sandbox only
 * (rootless too, where the kernel allows). changes() lists what the upper layer changed.
 * @example
 * const ov = new OverlayMount({ lower: ['/img/app', '/img/base'], upper: '/ctr/upper', work: '/ctr/work' });
 * await run('sh', ['-c', 'echo hi > /etc/motd'], { namespaces: ['user'], rootfs: ov });
 * await ov.changes(); // [{ path: '/etc/motd', kind: 'added' }]
 */
export class OverlayMount {
  readonly #o: ResolvedOverlay;
  /** our mount on the host: its id in /proc/self/mountinfo and the resolved mount point */
  #mount: { id: number; point: string } | null = null;
  #pending = false;
  /** the xattr prefix of the last mount made of the upper dir (host or sandbox) */
  #writer: MarkerPrefix | null = null;
  readonly #libraryMountpoints = new Set<string>();
  #sandboxUses = 0;

  /**
   * Checks the options; mounts nothing (mount() or spawn does).
   * @throws NsgroupsError ERR_INVALID_ARG for bad options (no lower layer, upper without work, a read-only
   * overlay of one layer, an unknown key…)
   * @example
   * const ro = new OverlayMount({ lower: ['/img/app', '/img/base'] }); // read-only: no upper layer
   */
  constructor(options: OverlayMountOptions) {
    this.#o = resolveOverlayOptions(options);
  }

  /** The lower layers, topmost first (absolute paths). */
  get lower(): string[] {
    return [...this.#o.lower];
  }
  /** The upper (writable) layer, or undefined for a read-only overlay or a tmpfs upper. */
  get upper(): string | undefined {
    return this.#o.upper;
  }
  /** overlayfs' work directory, with upper. */
  get work(): string | undefined {
    return this.#o.work;
  }
  /** Where mount() mounts it on the host, if given. */
  get target(): string | undefined {
    return this.#o.target;
  }
  /** The throw-away upper's tmpfs ({ size } in bytes, null for the kernel's default), or null. */
  get tmpfs(): {
    /** bytes, or null for the kernel's default */
    size: number | null;
  } | null {
    return this.#o.tmpfs ? { ...this.#o.tmpfs } : null;
  }
  /** Mounted read-only (always so without an upper layer). */
  get readonly(): boolean {
    return this.#o.readonly;
  }
  /** Mounted on the host by mount() and not yet unmounted. */
  get mounted(): boolean {
    return this.#mount !== null;
  }

  /**
   * Mounts the merged view at target (needs root: CAP_SYS_ADMIN in the host's mount namespace).
   * @throws NsgroupsError ERR_INVALID_ARG without a target, or for layers the kernel refuses (the
   * message says why); ERR_BUSY when already mounted or in use by a sandbox; ERR_PERMISSION
   * without root; ERR_UNSUPPORTED without overlayfs
   * @example
   * await ov.mount();
   * ov.mounted; // true
   */
  async mount(): Promise<void> {
    const o = this.#o;
    if (this.#mount) throw busy(`the overlay is already mounted at ${this.#mount.point}`, { path: o.target });
    if (this.#pending) throw busy('a mount() or unmount() of this overlay is in progress');
    if (this.#sandboxUses > 0) throw busy('the overlay is in use by a sandbox (spawn rootfs); mount it once that has exited');
    if (o.target === undefined) {
      throw invalidArg("OverlayMount.mount(): no target; give { target: '/path/to/merged' } to mount on the host");
    }
    if (o.tmpfs) {
      throw invalidArg(
        'OverlayMount.mount(): a tmpfs upper is made inside the sandbox that uses the overlay as its rootfs; to mount it on the host, give upper and work',
      );
    }
    const data = renderMountData(o, { userxattr: o.userxattr });
    checkParameters(o);
    this.#pending = true;
    try {
      await checkLayersOnDisk(o, true);
      const point = await fs.realpath(o.target);
      try {
        await native().mount('overlay', o.target, 'overlay', o.readonly ? fsConstants().MS_RDONLY : 0, data);
      } catch (err) {
        throw await this.#mountError(err);
      }
      try {
        const entry = topMountAt(await readMountinfo(), point);
        if (!entry || entry.fstype !== 'overlay') {
          throw new NsgroupsError('ERR_SYSTEM', `the overlay mounted at ${point} is missing from /proc/self/mountinfo; unmounted it again`);
        }
        this.#mount = { id: entry.id, point };
      } catch (err) {
        await native()
          .umount2(point, fsConstants().MNT_DETACH)
          .catch(() => undefined); // nothing stays mounted
        throw err;
      }
      if (o.upper !== undefined) this.#writer = o.userxattr ? USER_PREFIX : TRUSTED_PREFIX;
    } finally {
      this.#pending = false;
    }
  }

  async #mountError(err: unknown): Promise<NsgroupsError> {
    const o = this.#o;
    const { EINVAL, EPERM, ENODEV, EBUSY } = osConstants.errno;
    const what = `mounting the overlay at ${o.target}`;
    switch (errnoOf(err)) {
      case EINVAL:
        return explainInvalidMount(o, o.userxattr, err);
      case EPERM:
        return rethrowAsError(
          err,
          what,
          o.target,
          'mounting on the host needs root (CAP_SYS_ADMIN); without root, hand the OverlayMount to spawn({ rootfs }), ' +
            'which mounts it inside the sandbox’s user namespace (Linux 5.11+)',
        );
      case ENODEV:
        return unsupported('overlayfs is not available on this kernel: load it (modprobe overlay) or build with CONFIG_OVERLAY_FS');
      case EBUSY:
        return rethrowAsError(err, what, o.target, 'upper or work is in use by another overlay mount');
      default:
        return rethrowAsError(err, what, o.target);
    }
  }

  /**
   * Unmounts what mount() mounted (nothing to do when it is not mounted). Refuses when another
   * mount sits on top of ours at target. ERR_BUSY while files under target are in use, unless lazy.
   * @throws NsgroupsError ERR_BUSY (another mount on top, files in use, a mount() in progress)
   * @example
   * await ov.unmount({ lazy: true });
   */
  async unmount(options: OverlayUnmountOptions = {}): Promise<void> {
    const opts = checkObject(options, 'OverlayMount.unmount() options');
    checkKeys(opts, ['lazy'], 'OverlayMount.unmount() options');
    const lazy = opts.lazy === undefined ? false : checkBoolean(opts.lazy, 'OverlayMount.unmount() options.lazy');
    if (!this.#mount) return;
    if (this.#pending) throw busy('a mount() or unmount() of this overlay is in progress');
    const { id, point } = this.#mount;
    this.#pending = true;
    try {
      const entries = await readMountinfo();
      if (!entries.some((e) => e.id === id)) {
        this.#mount = null; // someone else unmounted it already
        return;
      }
      const top = topMountAt(entries, point);
      if (top && top.id !== id) {
        throw busy(`another mount (${top.fstype}, id ${top.id}) sits on the overlay at ${point}; unmount it first`, { path: point });
      }
      try {
        await native().umount2(point, lazy ? fsConstants().MNT_DETACH : 0);
      } catch (err) {
        if (errnoOf(err) === osConstants.errno.EBUSY) {
          throw busy(
            `the overlay at ${point} is in use (a process has files open or its working directory under it); ` +
              'end those processes, or unmount({ lazy: true }) to detach it now and let the kernel finish later',
            { syscall: 'umount2', errno: errnoOf(err), path: point },
          );
        }
        rethrowNative(err, `unmounting the overlay at ${point}`, point);
      }
      this.#mount = null;
      if (this.#o.volatile && !lazy) await this.#clearVolatileMarker();
    } finally {
      this.#pending = false;
    }
  }

  /**
   * A volatile mount skips every sync of the upper filesystem and leaves a marker in work that
   * makes the next mount refuse (overlayfs.rst, "Volatile mount"), because after a crash upper
   * may have lost writes. After a clean unmount, one syncfs(2) makes upper durable, and then
   * the marker may go.
   */
  async #clearVolatileMarker(): Promise<void> {
    const { upper, work } = this.#o;
    if (upper === undefined || work === undefined) return;
    const handle = await fs.open(upper, 'r');
    try {
      await native().syncfs(handle.fd);
    } catch (err) {
      rethrowNative(err, `syncing the upper filesystem of ${upper}`, upper);
    } finally {
      await handle.close();
    }
    await fs.rm(path.join(work, VOLATILE_MARKER), { recursive: true, force: true });
  }

  /**
   * What the upper dir changed relative to the lower layers: [{ path, kind }] with kind
   * 'added' | 'modified' | 'deleted', in tree order (a directory before its content, names
   * sorted; see changes.ts for the rules). Readable while mounted; a sandbox writing meanwhile
   * makes it a snapshot of a moving target.
   * @throws NsgroupsError ERR_INVALID_ARG for a tmpfs upper (nothing is kept) or a bad ignore path
   * @example
   * const changed = await ov.changes({ ignore: ['/run', '/tmp'] });
   */
  async changes(options: OverlayChangesOptions = {}): Promise<OverlayChange[]> {
    const opts = checkObject(options, 'OverlayMount.changes() options');
    checkKeys(opts, ['ignore'], 'OverlayMount.changes() options');
    const ignore = new Set(this.#libraryMountpoints);
    if (opts.ignore !== undefined) {
      for (const [i, p] of checkArray(opts.ignore, 'OverlayMount.changes() options.ignore').entries()) {
        ignore.add(viewPath(p, `OverlayMount.changes() options.ignore[${i}]`));
      }
    }
    const { upper, lower } = this.#o;
    if (this.#o.tmpfs)
      throw invalidArg('OverlayMount.changes(): a tmpfs upper is thrown away with its sandbox; give upper and work to keep (and list) what it wrote');
    if (upper === undefined) return [];
    const prefix = await this.#markerPrefix();
    return diffOverlay({ merged: new LayerStack([upper, ...lower], prefix), below: new LayerStack(lower, prefix), ignore });
  }

  /**
   * Copies the upper dir into `dir` (created, or an existing empty directory) as a new lower
   * layer: stack it with `lower: [dir, ...this.lower]` to see what this overlay shows now.
   * Refused while mounted here or in a sandbox: a writer could change upper mid-copy.
   * @returns the new layer's path
   * @throws NsgroupsError ERR_INVALID_ARG without an upper dir, or when `dir` is not empty;
   * ERR_BUSY while mounted or in use by a sandbox; ERR_NOT_FOUND when `dir`'s parent is missing
   * @example
   * const layer = await ov.commit('/img/layer-2');
   * const next = new OverlayMount({ lower: [layer, ...ov.lower], upper: '/ctr2/upper', work: '/ctr2/work' });
   */
  async commit(dir: string, options: OverlayCommitOptions = {}): Promise<string> {
    const { upper, lower } = this.#o;
    const dest = path.resolve(checkString(dir, 'OverlayMount.commit() dir'));
    const opts = checkObject(options, 'OverlayMount.commit() options');
    checkKeys(opts, ['userxattr'], 'OverlayMount.commit() options');
    const userxattr = opts.userxattr === undefined ? undefined : checkBoolean(opts.userxattr, 'OverlayMount.commit() options.userxattr');
    if (this.#o.tmpfs) throw invalidArg('OverlayMount.commit(): a tmpfs upper is thrown away with its sandbox; give upper and work to commit what it wrote');
    if (upper === undefined) throw invalidArg('OverlayMount.commit(): a read-only overlay has no upper dir to commit');
    if (this.#mount || this.#pending) throw busy('commit() copies the upper dir, which the mounted overlay may be writing: unmount() first');
    if (this.#sandboxUses > 0) throw busy('commit() copies the upper dir, which a sandbox using this overlay may be writing: wait for it to exit');
    checkNoOverlap([...layerNames(this.#o), ['commit dir', dest]]);
    const parent = path.dirname(dest);
    let realParent: string;
    try {
      realParent = await fs.realpath(parent);
    } catch {
      throw new NsgroupsError('ERR_NOT_FOUND', `OverlayMount.commit(): the parent directory ${parent} does not exist`, { path: parent });
    }
    const realNamed: Array<[string, string]> = [];
    for (const [name, p] of layerNames(this.#o)) realNamed.push([name, await fs.realpath(p).catch(() => p)]);
    checkNoOverlap([...realNamed, ['commit dir', path.join(realParent, path.basename(dest))]], ' once symlinks are resolved');

    const existing = await lstatOrNull(dest);
    if (existing && (!existing.isDirectory() || (await fs.readdir(dest)).length > 0)) {
      throw invalidArg(`OverlayMount.commit(): ${dest} exists and is not an empty directory; give a new path`);
    }
    if (!existing) {
      await fs.mkdir(dest, { mode: 0o700 }).catch((err) => {
        throw fromNodeError(err, `creating ${dest}`, { path: dest });
      });
    }
    const from = await this.#markerPrefix();
    const to = userxattr === undefined ? from : userxattr ? USER_PREFIX : TRUSTED_PREFIX;
    try {
      await commitUpper({ merged: new LayerStack([upper, ...lower], from), markerPrefix: to, dest });
    } catch (err) {
      await removeTree(dest, existing !== null);
      throw err;
    }
    return dest;
  }

  /** The prefix the upper dir's markers carry: as last mounted by us, else as found in it. */
  async #markerPrefix(): Promise<MarkerPrefix> {
    if (this.#writer) return this.#writer;
    const found = this.#o.upper === undefined ? null : await detectMarkerPrefix(this.#o.upper);
    return found ?? (this.#o.userxattr ? USER_PREFIX : TRUSTED_PREFIX);
  }

  /**
   * Unmounts; when files are still in use, detaches lazily so that nothing stays mounted.
   * @throws NsgroupsError ERR_BUSY when another mount sits on top of it, as unmount()
   * @example
   * await using ov = new OverlayMount({ lower: ['/img/app', '/img/base'], target: '/mnt/x' });
   * await ov.mount();
   */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.unmount();
    } catch (err) {
      if (!(err instanceof NsgroupsError && err.code === 'ERR_BUSY' && err.syscall === 'umount2')) throw err;
      await this.unmount({ lazy: true });
    }
  }

  // ---- for spawn({ rootfs }) (lib/spawn), not public API ----

  /** @internal
   * The data string for mount(2) of this overlay: the same validation and escaping as a host
   * mount. `userxattr` is required: a mount inside a user namespace must use it (Linux 5.11+).
   * `upper`/`work` replace the overlay's own pair. Call it for the mount about to be made: it
   * records the xattr prefix that mount will write into the upper dir, for changes() and commit().
   */
  _mountData(opts: MountDataOptions): string {
    const o = checkObject(opts, '_mountData options');
    checkKeys(o, ['userxattr', 'upper', 'work'], '_mountData options');
    const userxattr = checkBoolean(o.userxattr, '_mountData options.userxattr');
    const data = renderMountData(this.#o, { userxattr, upper: o.upper as string | undefined, work: o.work as string | undefined });
    if (o.upper === undefined && this.#o.upper !== undefined) this.#writer = userxattr ? USER_PREFIX : TRUSTED_PREFIX;
    return data;
  }

  /** @internal The filesystem checks of mount() without mounting (layers exist, work is empty…), for a sandbox mount. */
  async _check(): Promise<void> {
    checkParameters(this.#o);
    await checkLayersOnDisk(this.#o, false);
  }

  /** @internal Marks the overlay in use by a sandbox until the returned release function is called. */
  _use(): () => void {
    this.#sandboxUses++;
    let released = false;
    return () => {
      if (!released) this.#sandboxUses--;
      released = true;
    };
  }

  /** @internal
   * Records mount points the library creates in the overlay (e.g. /proc, /dev, /tmp, and the
   * targets of spawn's `mounts`), so that changes() does not report them. Use it when the
   * sandbox's child creates them; _prepareMountpoints both creates and records.
   */
  _recordLibraryMountpoints(paths: Iterable<string>): void {
    for (const p of paths) this.#libraryMountpoints.add(viewPath(p, 'library mount point'));
  }

  /** @internal
   * Creates the given mount points (directories, absolute in the merged view) in the upper dir
   * where the merged view lacks them, so that the sandbox's child finds them and changes()
   * skips them. A missing parent that exists below is recreated in upper with the lower
   * directory's mode, owner and times (as a copy-up would), so it does not read as modified.
   * Returns the paths it could not provide: where the view has a non-directory, or the overlay
   * is read-only. Refused while mounted on the host (upper must not change under a mount).
   */
  async _prepareMountpoints(paths: Iterable<string>): Promise<string[]> {
    const wanted = [...paths].map((p) => viewPath(p, 'mount point'));
    const { upper, lower } = this.#o;
    if (this.#mount || this.#pending) throw busy('cannot prepare mount points in the upper dir while the overlay is mounted on the host');
    const missing: string[] = [];
    const prefix = await this.#markerPrefix();
    if (upper === undefined) {
      const view = new LayerStack(lower, prefix);
      for (const p of wanted) if (!(await view.lookup(p))?.dir) missing.push(p);
      return missing;
    }
    const merged = new LayerStack([upper, ...lower], prefix);
    for (const p of wanted) {
      const names = p.split('/').filter(Boolean);
      for (let i = 1; i <= names.length; i++) {
        const rel = names.slice(0, i).join('/');
        const found = await merged.lookup(rel);
        if (found?.dir) {
          if (found.top.index !== 0) await copyUpDirectory(upper, rel, found.top.stat);
          continue;
        }
        if (found) {
          missing.push(p); // a file, symlink or device is in the way
          break;
        }
        await mkdirKeepingParentTimes(path.join(upper, rel));
        this.#libraryMountpoints.add('/' + rel);
      }
    }
    return missing;
  }
}

/** mkdir, then restores the parent's atime and mtime, so the parent does not read as modified. */
async function mkdirKeepingParentTimes(dir: string): Promise<void> {
  const parent = await fs.lstat(path.dirname(dir), { bigint: true });
  await fs.mkdir(dir, { mode: 0o755 }).catch((err) => {
    throw fromNodeError(err, `creating ${dir}`, { path: dir });
  });
  setTimes(path.dirname(dir), parent.atimeNs, parent.mtimeNs);
}

/** Creates a directory of a lower layer in upper with the same mode, owner and times (a copy-up by hand). */
async function copyUpDirectory(upper: string, rel: string, stat: BigIntStats): Promise<void> {
  const dest = path.join(upper, rel);
  if (await lstatOrNull(dest)) return;
  await mkdirKeepingParentTimes(dest);
  try {
    await fs.lchown(dest, Number(stat.uid), Number(stat.gid));
    await fs.chmod(dest, Number(stat.mode & 0o7777n));
  } catch (err) {
    throw fromNodeError(err, `copying up ${dest}`, { path: dest });
  }
  setTimes(dest, stat.atimeNs, stat.mtimeNs);
}

function rethrowAsError(err: unknown, what: string, p?: string, hint?: string): NsgroupsError {
  try {
    rethrowNative(err, what, p, hint);
  } catch (converted) {
    if (converted instanceof NsgroupsError) return converted;
  }
  return new NsgroupsError('ERR_SYSTEM', `${what} failed: ${String(err)}`, { cause: err });
}
