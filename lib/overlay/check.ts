// The checks that need the filesystem, made before any mount (host or sandbox): every layer is
// an existing directory, upper and work share a filesystem, work holds nothing but what
// overlayfs itself leaves there, and no two of them overlap once symlinks are resolved.
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fromNodeError, invalidArg, NsgroupsError } from '../errors';
import { readMountinfo, overlayDirs } from './mountinfo';
import { checkNoOverlap, layerNames, type ResolvedOverlay } from './options';

/**
 * What overlayfs leaves in a work dir it has used: work/ (its scratch space, with a shared
 * whiteout inside) and index/ (with index=on). Anything else means the directory belongs to
 * someone else (Documentation/filesystems/overlayfs.rst: "workdir needs to be an empty directory").
 */
const OVERLAY_WORK_ENTRIES = new Set(['work', 'index']);

/** The marker a volatile mount leaves until it is cleanly unmounted (overlayfs.rst, "Volatile mount"). */
export const VOLATILE_MARKER = path.join('work', 'incompat', 'volatile');

async function statDirectory(p: string, name: string): Promise<Stats> {
  let stat: Stats;
  try {
    stat = await fs.stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NsgroupsError('ERR_NOT_FOUND', `OverlayMount: ${name} (${p}) does not exist; create the directory first`, {
        path: p,
        errno: -2,
        syscall: 'stat',
      });
    }
    throw fromNodeError(err, `checking the overlay's ${name} ${p}`, { path: p });
  }
  if (!stat.isDirectory()) throw invalidArg(`OverlayMount: ${name} (${p}) is not a directory`);
  return stat;
}

async function realpath(p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch (err) {
    throw fromNodeError(err, `resolving ${p}`, { path: p });
  }
}

export async function checkLayersOnDisk(o: ResolvedOverlay, withTarget: boolean): Promise<void> {
  for (const [i, lower] of o.lower.entries()) await statDirectory(lower, `lower[${i}]`);
  if (o.upper !== undefined && o.work !== undefined) {
    const upper = await statDirectory(o.upper, 'upper');
    const work = await statDirectory(o.work, 'work');
    if (upper.dev !== work.dev) {
      throw invalidArg(
        `OverlayMount: upper (${o.upper}) and work (${o.work}) are on different filesystems; overlayfs moves ` +
          'files from work into upper with rename(2), so work must be on the filesystem of upper',
      );
    }
    const strangers = (await fs.readdir(o.work)).filter((name) => !OVERLAY_WORK_ENTRIES.has(name));
    if (strangers.length > 0) {
      throw invalidArg(
        `OverlayMount: work (${o.work}) must be empty (it may hold only what overlayfs left there: work/, index/); ` +
          `it contains ${strangers
            .slice(0, 3)
            .map((s) => `'${s}'`)
            .join(', ')}${strangers.length > 3 ? '…' : ''}`,
      );
    }
    const marker = path.join(o.work, VOLATILE_MARKER);
    if (
      await fs.lstat(marker).then(
        () => true,
        () => false,
      )
    ) {
      throw invalidArg(
        `OverlayMount: work (${o.work}) holds overlayfs' volatile marker: a volatile mount of these directories ` +
          'was not cleanly unmounted (a crash?), so upper may have lost writes. Start from a fresh upper and work, or, ' +
          `if you know the system did not crash, remove ${marker}`,
      );
    }
  }
  if (withTarget && o.target !== undefined) await statDirectory(o.target, 'target');
  const named = layerNames({ ...o, target: withTarget ? o.target : undefined });
  const real: Array<[string, string]> = [];
  for (const [name, p] of named) real.push([name, await realpath(p)]);
  checkNoOverlap(real, ' once symlinks are resolved');
  if (o.upper !== undefined && o.work !== undefined) await checkNotInUse(await realpath(o.upper), await realpath(o.work));
}

/**
 * Refuses an upper or work dir that an overlay mounted in this mount namespace already uses:
 * overlayfs itself refuses that only with index=on and otherwise just warns, although two
 * mounts writing one upper dir corrupt each other (overlayfs.rst, "Sharing and copying layers").
 */
async function checkNotInUse(upper: string, work: string): Promise<void> {
  for (const entry of await readMountinfo()) {
    if (entry.fstype !== 'overlay') continue;
    const dirs = overlayDirs(entry);
    for (const [mine, theirs] of [
      ['upper', dirs.upper],
      ['work', dirs.work],
    ] as const) {
      if (theirs === undefined) continue;
      const resolved = await fs.realpath(theirs).catch(() => theirs);
      if (resolved === upper || resolved === work) {
        throw new NsgroupsError(
          'ERR_BUSY',
          `OverlayMount: ${resolved === upper ? 'upper' : 'work'} (${resolved}) is already the ${mine} dir of the overlay ` +
            `mounted at ${entry.mountPoint}; two mounts writing one upper dir corrupt each other`,
          { path: resolved },
        );
      }
    }
  }
}
