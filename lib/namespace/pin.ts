// Pins: a bind mount of a namespace file onto a plain file keeps the namespace alive with no
// member process (ip-netns(8) does this under /run/netns). Pins are made only on a file whose
// directory already exists; the file is created when missing and removed again by unpin.
import { constants as fsConstants, promises as fsp, unlinkSync } from 'node:fs';
import * as path from 'node:path';
import type { NativeError } from '../../types/native';
import { fromNodeError, NsgroupsError, systemError } from '../errors';
import { native } from '../native';
import { checkBoolean, checkKeys, checkObject, checkString } from '../util/validate';
import { stopHolder } from './holder';
import { parseNsLink } from './kinds';
import { readMountinfo, topMountAt } from './mountinfo';

/** Namespace.unpin()'s options. */
export interface UnpinOptions {
  /** remove the file too (default: only when this process created it for the pin) */
  remove?: boolean;
}

// Files this process created to pin on: unpin removes them.
const createdFiles = new Set<string>();

// Pins whose namespace ends with this process: a pid namespace made by Namespace.create lives
// as long as its holder init, a child of this process, and spawn ends its children when the
// process (or worker) exits normally. Those pins are removed at 'exit', before that happens,
// so that no pin outlives what it pins. (If the process is killed instead, nothing ends the
// holder: the pin stays valid, and an unpin from any process ends it.)
const endingWithProcess = new Set<string>();
let exitHookInstalled = false;

function removePinsAtExit(): void {
  for (const file of endingWithProcess) {
    try {
      native().nsUnpin(file);
      if (createdFiles.has(file)) unlinkSync(file);
    } catch {
      /* exiting: nothing better to do */
    }
  }
}

export function endPinWithProcess(file: string): void {
  endingWithProcess.add(file);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', removePinsAtExit);
  }
}

export function resolvePinPath(value: unknown, what: string): string {
  return path.resolve(checkString(value, what));
}

/**
 * Checks that `file` can take a pin and creates it when missing; true when it was created.
 * Runs before anything else is made, so bad input costs nothing.
 */
export async function preparePinTarget(file: string): Promise<boolean> {
  const dir = path.dirname(file);
  try {
    if (!(await fsp.stat(dir)).isDirectory()) {
      throw new NsgroupsError('ERR_INVALID_ARG', `cannot pin on ${file}: ${dir} is not a directory`, { path: file });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NsgroupsError(
        'ERR_NOT_FOUND',
        `cannot pin on ${file}: its directory ${dir} does not exist; create it first (nsgroups never creates directories for you)`,
        { path: dir, errno: -2, syscall: 'stat' },
      );
    }
    throw fromNodeError(err, `checking the directory of the pin ${file}`, { path: dir });
  }
  const top = topMountAt(await readMountinfo(), file);
  if (top) {
    throw new NsgroupsError('ERR_BUSY', `cannot pin on ${file}: it is already a mount point (${top.fstype} ${top.root}); unpin it first`, { path: file });
  }
  try {
    // mode 0, as ip netns add: the placeholder is never opened; the pin's inode is the namespace's
    const handle = await fsp.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0);
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromNodeError(err, `creating the pin file ${file}`, { path: file });
  }
  const st = await fsp.lstat(file);
  if (!st.isFile()) {
    throw new NsgroupsError(
      'ERR_INVALID_ARG',
      `cannot pin on ${file}: it exists and is not a regular file; a namespace is pinned on a file (not a directory or symlink)`,
      { path: file },
    );
  }
  return false;
}

/** Bind-mounts the namespace behind `fd` onto `file` (prepared by preparePinTarget). */
export function bindPin(fd: number, file: string, created: boolean): void {
  try {
    // through /proc/self/fd: exactly the namespace whose identity the caller checked
    native().nsPin(`/proc/self/fd/${fd}`, file);
  } catch (err) {
    const e = err as NativeError;
    const hint =
      e.errno === -1 || e.errno === -13
        ? "a pin is a bind mount: it needs CAP_SYS_ADMIN over the caller's mount namespace (root); " +
          'without a pin, keep the Namespace object open (Namespace.create without pin holds it by an fd)'
        : e.errno === -22
          ? 'a mount namespace can be pinned only from a mount namespace older than itself (mount_namespaces(7))'
          : undefined;
    throw systemError(e.errno, e.syscall, `pinning a namespace on ${file}`, { path: file, hint });
  }
  if (created) createdFiles.add(file);
}

/** Removes a pin file this process created (after a failed pin or an unpin). */
export async function removeCreatedFile(file: string): Promise<void> {
  createdFiles.delete(file);
  await fsp.unlink(file).catch(() => {});
}

export async function unpinFile(target: unknown, options: unknown): Promise<void> {
  const file = resolvePinPath(target, 'pin path');
  let remove: boolean | undefined;
  if (options !== undefined) {
    const o = checkObject(options, 'unpin options');
    checkKeys(o, ['remove'], 'unpin options');
    if (o.remove !== undefined) remove = checkBoolean(o.remove, 'unpin options.remove');
  }
  const top = topMountAt(await readMountinfo(), file);
  const pinned = top?.fstype === 'nsfs' ? parseNsLink(top.root) : undefined;
  if (!pinned) {
    throw new NsgroupsError('ERR_NOT_FOUND', `${file} is not a pinned namespace (${top ? `a ${top.fstype} is mounted there` : 'nothing is mounted there'})`, {
      path: file,
    });
  }
  try {
    native().nsUnpin(file);
  } catch (err) {
    const e = err as NativeError;
    throw systemError(e.errno, e.syscall, `unpinning ${file}`, { path: file });
  }
  endingWithProcess.delete(file);
  // a pid namespace made by Namespace.create lives as long as its holder init: end it now
  if (pinned.type === 'pid') await stopHolder(file, pinned.inode);
  if (remove ?? createdFiles.has(file)) {
    createdFiles.delete(file);
    try {
      await fsp.unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromNodeError(err, `removing the pin file ${file}`, { path: file });
    }
  }
}
