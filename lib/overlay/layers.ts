// The merged view of a stack of layer directories, computed from the layers themselves the way
// overlayfs looks names up (fs/overlayfs/namei.c, ovl_lookup; Documentation/filesystems/
// overlayfs.rst): the topmost layer that has a name decides what it is; a whiteout (a 0/0
// character device) hides the name in every layer below; a directory merges with the
// directories of the same name below it until one is opaque (overlay.opaque = "y") or a layer
// has a non-directory there; a directory renamed under redirect_dir=on keeps its lower content
// through overlay.redirect (a name in the same parent, or an absolute path from the layer roots);
// a metacopy file (overlay.metacopy) takes its data from the file below it.
// changes() compares the view of [upper, ...lowers] with the view of [...lowers]; commit() copies
// from it. The markers live in trusted.overlay.* or, for userxattr mounts, user.overlay.*.
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromNodeError, NsgroupsError } from '../errors';
import { getXattr, listXattrs } from './syscalls';

export type MarkerPrefix = 'trusted.overlay.' | 'user.overlay.';
export const TRUSTED_PREFIX: MarkerPrefix = 'trusted.overlay.';
export const USER_PREFIX: MarkerPrefix = 'user.overlay.';

/** One name in one layer. */
export interface LayerEntry {
  /** the layer's root directory */
  layer: string;
  /** index of the layer in its stack, 0 = topmost */
  index: number;
  /** the path inside the layer ('' for its root) */
  rel: string;
  /** layer + rel */
  abs: string;
  stat: BigIntStats;
}

/** A directory of the merged view: the layer directories that make it up, topmost first. */
export interface MergedDir {
  parts: LayerEntry[];
}

/** What the merged view shows under one name. */
export interface MergedEntry {
  /** the entry whose type and metadata the view shows */
  top: LayerEntry;
  /** for a directory, the directories merged into it */
  dir: MergedDir | null;
  /** with followData, for a regular file: the entry that holds its data (top itself unless
   *  top is a metacopy; null if the data is missing) */
  data: LayerEntry | null;
}

export interface Markers {
  opaque: boolean;
  redirect: string | null;
  metacopy: boolean;
}

/** A whiteout: a character device with device number 0/0 (overlayfs.rst, "whiteouts and opaque directories"). */
export function isWhiteout(stat: BigIntStats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0n;
}

/** lstat with bigints (nanosecond times); null when the path does not exist. */
export async function lstatOrNull(p: string): Promise<BigIntStats | null> {
  try {
    return await fs.lstat(p, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw fromNodeError(err, `reading ${p}`, { path: p });
  }
}

/** Sorted names of a directory (byte order of their UTF-8 encoding). */
export async function readNames(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort(compareNames);
  } catch (err) {
    throw fromNodeError(err, `listing ${dir}`, { path: dir });
  }
}

export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function readMarkers(abs: string, prefix: MarkerPrefix): Markers {
  const markers: Markers = { opaque: false, redirect: null, metacopy: false };
  for (const name of listXattrs(abs)) {
    if (!name.startsWith(prefix)) continue;
    const key = name.slice(prefix.length);
    if (key === 'opaque') markers.opaque = getXattr(abs, name)?.toString('latin1') === 'y';
    else if (key === 'redirect') markers.redirect = getXattr(abs, name)?.toString() ?? null;
    else if (key === 'metacopy') markers.metacopy = true;
  }
  return markers;
}

/**
 * A redirect is one name in the same directory, or an absolute path of names; '.', '..' and
 * empty components are invalid, as for the kernel (namei.c, ovl_get_redirect; its lookups take
 * one plain name at a time), so a redirect can never leave a layer.
 */
function checkRedirect(redirect: string, abs: string): string {
  const names = redirect.startsWith('/') ? redirect.slice(1).split('/') : [redirect];
  if (redirect === '' || names.some((n) => n === '' || n === '.' || n === '..' || n.includes('/'))) {
    throw new NsgroupsError('ERR_SYSTEM', `invalid overlay redirect ${JSON.stringify(redirect)} on ${abs}`, { path: abs });
  }
  return redirect;
}

/** Where a lookup continues in the layers below one that has a redirect. */
interface Cursor {
  /** layers still to search, topmost first, each with the directory to look in */
  rest: Array<{ index: number; base: string }>;
  /** the name to look up in each base, or, after an absolute redirect, the path from the layer root */
  name: string;
  absolute: boolean;
}

export class LayerStack {
  /**
   * Redirects and metacopy are followed only under trusted.overlay.*: with userxattr overlayfs
   * forces redirect_dir=nofollow and metacopy=off (params.c), because anyone who owns a layer
   * could forge user.* xattrs.
   */
  readonly followsRedirects: boolean;

  constructor(
    readonly layers: readonly string[],
    readonly prefix: MarkerPrefix,
  ) {
    this.followsRedirects = prefix === TRUSTED_PREFIX;
  }

  /** The merged root: every layer's root directory. */
  async root(): Promise<MergedDir> {
    const parts: LayerEntry[] = [];
    for (let index = 0; index < this.layers.length; index++) {
      const layer = this.layers[index];
      const stat = await lstatOrNull(layer);
      if (stat?.isDirectory()) parts.push({ layer, index, rel: '', abs: layer, stat });
    }
    return { parts };
  }

  /**
   * The entry at `rel` in one layer. `walk` checks every component but the last to be a real
   * directory of that layer (after an absolute redirect), so a symlink in a layer is never
   * followed out of it — overlayfs looks names up one at a time, without following links.
   */
  private async entry(index: number, rel: string, walk = false): Promise<LayerEntry | null> {
    const layer = this.layers[index];
    if (walk) {
      const names = rel.split('/');
      for (let i = 1; i < names.length; i++) {
        if (!(await lstatOrNull(path.join(layer, ...names.slice(0, i))))?.isDirectory()) return null;
      }
    }
    const abs = rel === '' ? layer : path.join(layer, rel);
    const stat = await lstatOrNull(abs);
    return stat && { layer, index, rel, abs, stat };
  }

  /**
   * What the merged view shows as `name` in `dir`, or null when nothing (or a whiteout). With
   * `followData`, a metacopy file's data entry is looked up too.
   */
  async child(dir: MergedDir, name: string, followData = false): Promise<MergedEntry | null> {
    const cursor: Cursor = { rest: dir.parts.map((p) => ({ index: p.index, base: p.rel })), name, absolute: false };
    let top: LayerEntry | null = null;
    const parts: LayerEntry[] = [];
    let data: LayerEntry | null = null;
    while (cursor.rest.length > 0) {
      const { index, base } = cursor.rest.shift()!;
      const rel = cursor.absolute ? cursor.name : path.join(base, cursor.name);
      const found = await this.entry(index, rel, cursor.absolute);
      if (!found) continue;
      if (isWhiteout(found.stat)) break; // hides this name in every layer below
      if (top === null) {
        top = found;
        if (!found.stat.isDirectory()) {
          if (!followData || !found.stat.isFile()) return { top, dir: null, data: null };
          const markers = readMarkers(found.abs, this.prefix);
          if (!markers.metacopy || !this.followsRedirects) return { top, dir: null, data: top };
          this.follow(cursor, found, markers.redirect);
          continue;
        }
      } else if (!top.stat.isDirectory()) {
        // looking for a metacopy's data: the first regular file below that is not a metacopy itself
        if (!found.stat.isFile()) break;
        const markers = readMarkers(found.abs, this.prefix);
        if (!markers.metacopy) {
          data = found;
          break;
        }
        this.follow(cursor, found, markers.redirect);
        continue;
      } else if (!found.stat.isDirectory()) {
        break; // a non-directory below a directory ends the merge
      }
      parts.push(found);
      const markers = readMarkers(found.abs, this.prefix);
      if (markers.opaque) break;
      this.follow(cursor, found, markers.redirect);
    }
    if (top === null) return null;
    return { top, dir: top.stat.isDirectory() ? { parts } : null, data };
  }

  /** After `found` (which may carry a redirect), where the layers below look. */
  private follow(cursor: Cursor, found: LayerEntry, redirect: string | null): void {
    if (redirect === null || !this.followsRedirects) return;
    checkRedirect(redirect, found.abs);
    if (redirect.startsWith('/')) {
      // an absolute redirect: every layer below, from its root (ovl_lookup switches to the root's stack)
      const below: Array<{ index: number; base: string }> = [];
      for (let index = found.index + 1; index < this.layers.length; index++) below.push({ index, base: '' });
      cursor.rest = below;
      cursor.name = path.normalize(redirect).replace(/^\/+/, '');
      cursor.absolute = true;
    } else if (!cursor.absolute) {
      cursor.name = redirect; // another name in the same parent directories
    } else {
      cursor.name = path.join(path.dirname(cursor.name), redirect);
    }
  }

  /** The merged entry at `rel` (a path inside the view, '' or '/' for the root). */
  async lookup(rel: string, followData = false): Promise<MergedEntry | null> {
    let dir = await this.root();
    const names = rel.split('/').filter((n) => n !== '');
    if (names.length === 0) return dir.parts.length ? { top: dir.parts[0], dir, data: null } : null;
    let entry: MergedEntry | null = null;
    for (let i = 0; i < names.length; i++) {
      entry = await this.child(dir, names[i], followData && i === names.length - 1);
      if (!entry) return null;
      if (i < names.length - 1) {
        if (!entry.dir) return null;
        dir = entry.dir;
      }
    }
    return entry;
  }

  /** The names the merged directory shows (whiteouts removed), sorted. */
  async names(dir: MergedDir): Promise<string[]> {
    const seen = new Map<string, boolean>(); // name -> visible (false: whited out above)
    for (const part of dir.parts) {
      for (const name of await readNames(part.abs)) {
        if (seen.has(name)) continue;
        const stat = await lstatOrNull(path.join(part.abs, name));
        if (stat) seen.set(name, !isWhiteout(stat));
      }
    }
    return [...seen]
      .filter(([, visible]) => visible)
      .map(([name]) => name)
      .sort(compareNames);
  }
}

/** True when two merged directories are made of exactly the same layer directories. */
export function sameParts(a: MergedDir, b: MergedDir): boolean {
  return a.parts.length === b.parts.length && a.parts.every((p, i) => p.abs === b.parts[i].abs);
}

/**
 * Which xattr prefix overlayfs wrote into an upper dir: trusted.overlay.* (a mount without
 * userxattr; readable by root only) or user.overlay.*; null when no marker is there at all.
 * overlayfs writes overlay.uuid and overlay.impure on the upper root at mount time (Linux 6.6+),
 * so the root usually answers; otherwise every entry is scanned. Trusted markers win: only a
 * privileged mount can have written them, while user.overlay.* can be a file's own data there.
 */
export async function detectMarkerPrefix(upper: string): Promise<MarkerPrefix | null> {
  let sawUser = false;
  const scan = (abs: string): boolean => {
    for (const name of listXattrs(abs)) {
      if (name.startsWith(TRUSTED_PREFIX)) return true;
      if (name.startsWith(USER_PREFIX)) sawUser = true;
    }
    return false;
  };
  if (scan(upper)) return TRUSTED_PREFIX;
  const pending = [upper];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const name of await readNames(dir)) {
      const abs = path.join(dir, name);
      const stat = await lstatOrNull(abs);
      if (!stat || stat.isSymbolicLink() || isWhiteout(stat)) continue;
      if (scan(abs)) return TRUSTED_PREFIX;
      if (stat.isDirectory()) pending.push(abs);
    }
  }
  return sawUser ? USER_PREFIX : null;
}
