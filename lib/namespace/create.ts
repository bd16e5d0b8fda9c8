// Namespace.create: a new, empty namespace. The kernel makes namespaces only for a process
// (clone/unshare), so a short-lived child of the library's own spawn is born in it; we open its
// /proc/PID/ns entry (an fd holds the namespace), pin it if asked, and kill and reap the child.
//
// Ownership: a namespace is owned by the user namespace its creator was in. As root the new
// namespace is owned by the caller's user namespace, like `ip netns add`. Without CAP_SYS_ADMIN
// the kernel allows new namespaces only inside a new user namespace (user_namespaces(7)), so
// the child gets one too, and that user namespace (where the caller is root) owns the result.
import * as fs from 'node:fs';
import { invalidArg, NsgroupsError } from '../errors';
import { OWNER_ENV, ownerRecord } from '../host/owner';
import { spawn, type SandboxProcess } from '../spawn/index';
import type { NamespaceType, SpawnOptions, TimeOffsets } from '../spawn/options';
import { checkKeys, checkObject, checkOneOf, type Plain } from '../util/validate';
import { closeQuietly, identify, openNamespacePath, type Identity } from './fd';
import { HOLDER_ARGV0, holderOf, registerHolder, type PidHolder } from './holder';
import { NAMESPACE_TYPES, PROC_NS_NAME } from './kinds';
import { bindPin, endPinWithProcess, preparePinTarget, removeCreatedFile, resolvePinPath } from './pin';

/** Namespace.create()'s options. */
export interface NamespaceCreateOptions {
  /**
   * Pin the new namespace on this file (created if missing; its directory must exist): it then
   * lives until Namespace.unpin. Without a pin the returned Namespace holds it by an open fd
   * until close(). Pinning needs root.
   */
  pin?: string;
  /** net only: 'loopback' (default) brings `lo` up; 'none' leaves it down, as `ip netns add` does */
  network?: 'loopback' | 'none';
  /** time only: the clock offsets of the new time namespace, in seconds (default 0 each) */
  timeOffsets?: TimeOffsets;
}

export interface CreatedNamespace {
  identity: Identity;
  /** the pin, when pinned */
  pinPath?: string;
  /** the fd that holds it, when not pinned */
  fd?: number;
  /** for a pid namespace that is not pinned: its holder, ended with the Namespace */
  holder?: PidHolder;
}

// Long but finite, and a plain number: GNU and busybox sleep both take it (busybox has no 'infinity').
const HOLDER_COMMAND = ['sleep', '1000000000'] as const;
const HOLDER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

/** CAP_SYS_ADMIN in our effective set: what creating a namespace without a user namespace takes. */
function hasSysAdmin(): boolean {
  try {
    const line = fs
      .readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    return line !== undefined && ((BigInt(`0x${line.slice(7).trim()}`) >> 21n) & 1n) === 1n;
  } catch {
    return false;
  }
}

function whenStarted(child: SandboxProcess): Promise<SandboxProcess> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      resolve(child);
    });
  });
}

async function stop(child: SandboxProcess): Promise<void> {
  child.kill('SIGKILL');
  await child.exited.catch(() => {});
}

/**
 * Starts the child that is born in the new namespace; `keep`: it outlives this Node process.
 * Its environment names this process as its maker (and whether it made the pin's file), so that
 * `nsgroups gc` can end a pinned pid namespace whose maker died (lib/host/owner.ts).
 */
async function startChild(
  type: NamespaceType,
  network: 'loopback' | 'none',
  keep: boolean,
  timeOffsets: TimeOffsets,
  pinFileCreated = false,
): Promise<SandboxProcess> {
  const namespaces: NamespaceType[] = [type];
  if (type !== 'user' && !hasSysAdmin()) namespaces.unshift('user');
  const options: SpawnOptions = {
    namespaces,
    stdio: 'ignore',
    env: { PATH: HOLDER_PATH, [OWNER_ENV]: ownerRecord(pinFileCreated ? { pin: 'created' } : {}) },
    argv0: HOLDER_ARGV0,
    dieWithParent: !keep,
    ...(type === 'net' ? { network } : {}),
    // a time namespace's offsets are fixed before anyone enters it: spawn writes them
    ...(type === 'time' ? { timeOffsets } : {}),
  };
  try {
    return await whenStarted(spawn(HOLDER_COMMAND[0], [HOLDER_COMMAND[1]], options));
  } catch (err) {
    if (!(err instanceof NsgroupsError && err.step === 'execve' && err.code === 'ERR_NOT_FOUND')) throw err;
  }
  // no sleep on this host: Node itself can wait as well (slower to start, always present)
  return whenStarted(spawn(process.execPath, ['-e', 'setInterval(() => {}, 2 ** 30)'], { ...options, argv0: HOLDER_ARGV0 }));
}

export async function createNamespace(typeArg: unknown, optionsArg: unknown): Promise<CreatedNamespace> {
  const type = checkOneOf(typeArg, NAMESPACE_TYPES, 'namespace type');
  const o: Plain = optionsArg === undefined ? {} : checkObject(optionsArg, 'create options');
  checkKeys(o, ['pin', 'network', 'timeOffsets'], 'create options');
  const pinPath = o.pin === undefined ? undefined : resolvePinPath(o.pin, 'options.pin');
  let network: 'loopback' | 'none' = 'loopback';
  if (o.network !== undefined) {
    if (type !== 'net') throw invalidArg(`create options.network applies to 'net' namespaces only, not '${type}'`);
    network = checkOneOf(o.network, ['loopback', 'none'] as const, 'create options.network');
  }
  if (o.timeOffsets !== undefined && type !== 'time') {
    throw invalidArg(`create options.timeOffsets applies to 'time' namespaces only, not '${type}'`);
  }
  const timeOffsets = (o.timeOffsets as TimeOffsets | undefined) ?? { monotonic: 0, boottime: 0 };

  const created = pinPath !== undefined ? await preparePinTarget(pinPath) : false;
  // A pinned pid namespace's holder must not die with a crash of this process (the pin would
  // outlive it, broken); on a normal exit spawn ends it and the pin is removed first (pin.ts).
  // An unpinned one dies with the Namespace object or this process, like its fd.
  const keepHolder = type === 'pid' && pinPath !== undefined;
  let child: SandboxProcess | undefined;
  let fd = -1;
  try {
    child = await startChild(type, network, keepHolder, timeOffsets, created);
    const procPath = `/proc/${child.pid}/ns/${PROC_NS_NAME[type]}`;
    fd = openNamespacePath(procPath, `opening the new ${type} namespace`);
    const identity = identify(fd, procPath);
    if (identity.inode === fs.statSync(`/proc/self/ns/${PROC_NS_NAME[type]}`).ino) {
      throw new NsgroupsError('ERR_SYSTEM', `the child meant to create a ${type} namespace is still in the caller's`);
    }
    let holder: PidHolder | undefined;
    if (type === 'pid') {
      holder = holderOf(child);
      if (keepHolder) child.unref();
    }
    if (pinPath !== undefined) {
      bindPin(fd, pinPath, created);
      closeQuietly(fd);
      fd = -1;
      if (holder) {
        registerHolder(pinPath, holder);
        endPinWithProcess(pinPath);
      }
      if (type !== 'pid') await stop(child);
      return { identity, pinPath };
    }
    if (type !== 'pid') await stop(child);
    const held = fd;
    fd = -1;
    return { identity, fd: held, holder };
  } catch (err) {
    if (fd >= 0) closeQuietly(fd);
    if (child) await stop(child);
    if (created && pinPath !== undefined) await removeCreatedFile(pinPath);
    throw err;
  }
}
