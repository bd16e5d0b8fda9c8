// commit(): copies an upper dir into a new directory that serves as a lower layer, so layers
// stack like image layers. Kept: whiteouts (0/0 character devices), opaque markers, file types,
// content, ownership, modes, symlinks, hard links, nanosecond atime/mtime and the files' own
// xattrs. Made self-contained: a metacopy file (metadata copied up, data still below) gets its
// data, and a directory renamed under redirect_dir (its content still below, under the old
// name) gets its full merged content and an opaque marker — so the new layer needs neither
// metacopy nor redirect_dir support from the mount that stacks it. overlayfs' bookkeeping
// (origin, impure, nlink, uuid…) is dropped: it describes the old mount, not the new layer.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromNodeError, NsgroupsError } from '../errors';
import { isWhiteout, type LayerEntry, type LayerStack, type MarkerPrefix, type MergedDir, readMarkers, readNames } from './layers';
import { getXattr, listXattrs, mknod, setTimes, setXattr, splitDev } from './syscalls';

export interface CommitInput {
  /** [upper, ...lower], read with the prefix the upper dir was written with */
  merged: LayerStack;
  /** the prefix the new layer's markers are written with */
  markerPrefix: MarkerPrefix;
  dest: string;
}

const isRoot = process.geteuid?.() === 0;

export async function commitUpper(input: CommitInput): Promise<void> {
  const copier = new LayerCopier(input.merged.prefix, input.markerPrefix);
  const root = await input.merged.root();
  const upperRoot = root.parts[0];
  await copier.copyUpperDir(upperRoot, async () => root, input.dest, input.merged);
  await copier.finishDir(upperRoot, input.dest, false);
}

/** Removes what a failed commit created, making read-only directories writable first. */
export async function removeTree(dir: string, keepRoot: boolean): Promise<void> {
  const open = async (d: string): Promise<void> => {
    await fs.chmod(d, 0o700).catch(() => undefined);
    for (const entry of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await open(path.join(d, entry.name));
    }
  };
  await open(dir);
  if (keepRoot) {
    for (const name of await fs.readdir(dir).catch(() => [])) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  } else {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

class LayerCopier {
  /** dev:ino of a multiply linked source -> the copy made of it */
  private readonly links = new Map<string, string>();

  constructor(
    private readonly from: MarkerPrefix,
    private readonly to: MarkerPrefix,
  ) {}

  /**
   * Copies the upper directory `dir` into the existing directory `dest`. `merged` resolves the
   * merged view of this directory when a child needs it (a redirect or a metacopy).
   */
  async copyUpperDir(dir: LayerEntry, mergedDir: () => Promise<MergedDir>, dest: string, stack: LayerStack): Promise<void> {
    let memo: Promise<MergedDir> | undefined;
    const view = () => (memo ??= mergedDir());
    for (const name of await readNames(dir.abs)) {
      const src = path.join(dir.abs, name);
      const target = path.join(dest, name);
      const stat = await fs.lstat(src, { bigint: true }).catch((err) => {
        throw fromNodeError(err, `reading ${src}`, { path: src });
      });
      const entry: LayerEntry = { ...dir, rel: path.join(dir.rel, name), abs: src, stat };
      if (isWhiteout(stat)) {
        await this.copyNode(entry, target);
        continue;
      }
      const markers = stat.isDirectory() || stat.isFile() ? readMarkers(src, this.from) : null;
      if (!stack.followsRedirects && markers) [markers.redirect, markers.metacopy] = [null, false]; // not markers under userxattr
      if (stat.isDirectory() && markers?.redirect) {
        // renamed from a lower directory: its content is partly below, under the old name
        const resolved = await stack.child(await view(), name);
        if (!resolved?.dir) throw new NsgroupsError('ERR_SYSTEM', `commit: the redirected directory ${src} has no merged view`, { path: src });
        await this.copyMergedDir(resolved.dir, entry, target, stack);
        continue;
      }
      if (stat.isDirectory()) {
        await fs.mkdir(target, { mode: 0o700 }).catch((err) => {
          throw fromNodeError(err, `creating ${target}`, { path: target });
        });
        const child = async () => (await stack.child(await view(), name))?.dir ?? { parts: [entry] };
        await this.copyUpperDir(entry, child, target, stack);
        await this.finishDir(entry, target, markers!.opaque);
        continue;
      }
      if (stat.isFile() && markers?.metacopy) {
        const resolved = await stack.child(await view(), name, true);
        if (!resolved?.data)
          throw new NsgroupsError('ERR_SYSTEM', `commit: the data of the metacopy file ${src} is missing from the lower layers`, { path: src });
        await this.copyNode(entry, target, resolved.data.abs);
        continue;
      }
      await this.copyNode(entry, target);
    }
  }

  /** Copies the merged view of a directory (every layer's share of it) and marks the copy opaque. */
  private async copyMergedDir(dir: MergedDir, top: LayerEntry, dest: string, stack: LayerStack): Promise<void> {
    await fs.mkdir(dest, { mode: 0o700 }).catch((err) => {
      throw fromNodeError(err, `creating ${dest}`, { path: dest });
    });
    for (const name of await stack.names(dir)) {
      const child = await stack.child(dir, name, true);
      if (!child) continue;
      const target = path.join(dest, name);
      if (child.dir) {
        await this.copyMergedDir(child.dir, child.top, target, stack);
      } else if (child.top.stat.isFile() && child.data === null) {
        throw new NsgroupsError('ERR_SYSTEM', `commit: the data of the metacopy file ${child.top.abs} is missing from the lower layers`, {
          path: child.top.abs,
        });
      } else {
        await this.copyNode(child.top, target, child.data && child.data !== child.top ? child.data.abs : undefined);
      }
    }
    await this.finishDir(top, dest, true);
  }

  /** Sets a copied directory's markers, owner, mode, xattrs and times (after its content). */
  async finishDir(src: LayerEntry, dest: string, opaque: boolean): Promise<void> {
    if (opaque) setXattr(dest, `${this.to}opaque`, Buffer.from('y'), this.markerHint());
    await this.copyAttributes(src, dest);
  }

  /** Copies a non-directory; `dataFrom` supplies a metacopy's content. */
  private async copyNode(src: LayerEntry, dest: string, dataFrom?: string): Promise<void> {
    const { stat } = src;
    const key = `${stat.dev}:${stat.ino}`;
    const linked = stat.nlink > 1n ? this.links.get(key) : undefined;
    try {
      if (linked !== undefined) {
        await fs.link(linked, dest); // a hard link shares the inode: its attributes are copied already
        return;
      }
      if (stat.isFile()) {
        await fs.copyFile(dataFrom ?? src.abs, dest);
      } else if (stat.isSymbolicLink()) {
        await fs.symlink(await fs.readlink(src.abs), dest);
      } else {
        const { major, minor } = splitDev(stat.rdev);
        mknod(dest, Number(stat.mode), major, minor, isRoot ? undefined : 'only root may create device nodes other than whiteouts');
      }
    } catch (err) {
      throw fromNodeError(err, `commit: copying ${src.abs} to ${dest}`, { path: dest });
    }
    if (stat.nlink > 1n) this.links.set(key, dest);
    await this.copyAttributes(src, dest);
  }

  /** Owner, then mode (chown clears setuid bits), then xattrs (chown drops file capabilities), then times. */
  private async copyAttributes(src: LayerEntry, dest: string): Promise<void> {
    const { stat } = src;
    try {
      const now = await fs.lstat(dest, { bigint: true });
      if (now.uid !== stat.uid || now.gid !== stat.gid) await fs.lchown(dest, Number(stat.uid), Number(stat.gid));
      if (!stat.isSymbolicLink()) await fs.chmod(dest, Number(stat.mode & 0o7777n));
    } catch (err) {
      throw fromNodeError(err, `commit: setting the owner and mode of ${dest}`, {
        path: dest,
        hint: isRoot ? undefined : `an unprivileged user can keep only its own uid and gid; ${src.abs} belongs to ${stat.uid}:${stat.gid}`,
      });
    }
    for (const name of listXattrs(src.abs)) {
      const copied = this.translateXattr(name);
      if (copied === null) continue;
      const value = getXattr(src.abs, name);
      if (value !== null) setXattr(dest, copied, value);
    }
    setTimes(dest, stat.atimeNs, stat.mtimeNs);
  }

  /**
   * The name an xattr of the upper dir gets in the new layer, or null for overlayfs' own
   * bookkeeping. A file's own `<prefix>overlay.X` xattr is stored escaped as
   * `<prefix>overlay.overlay.X` (overlayfs.rst, "Nesting overlayfs mounts", Linux 6.7+):
   * unescape with the old prefix, escape again with the new one.
   */
  private translateXattr(name: string): string | null {
    let own = name;
    if (name.startsWith(this.from)) {
      const rest = name.slice(this.from.length);
      if (!rest.startsWith('overlay.')) return null; // a marker: opaque is written by finishDir
      own = this.from + rest.slice('overlay.'.length);
    }
    return own.startsWith(this.to) ? this.to + 'overlay.' + own.slice(this.to.length) : own;
  }

  private markerHint(): string | undefined {
    return this.to.startsWith('trusted.') && !isRoot
      ? 'trusted.* xattrs need CAP_SYS_ADMIN; commit with { userxattr: true } to write user.overlay.* markers'
      : undefined;
  }
}
