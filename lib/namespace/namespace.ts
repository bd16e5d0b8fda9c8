// Namespace: one kernel namespace, known by its type and its nsfs identity (device + inode,
// what /proc/PID/ns/TYPE links to), and reachable through `path`, a file that opens it:
// /proc/PID/ns/TYPE (valid while that process lives), a pin (a bind mount, valid until
// unpinned), or /proc/PID/fd/N for one this object holds open (valid until close()).
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { NativeError } from '../../types/native';
import { fromNodeError, invalidArg, NsgroupsError, systemError, unsupported } from '../errors';
import { native } from '../native';
import { checkInteger, checkOneOf, checkString } from '../util/validate';
import { createNamespace, type NamespaceCreateOptions } from './create';
import { closeQuietly, identify, openNamespacePath, withNamespaceFd, type Identity } from './fd';
import type { PidHolder } from './holder';
import { NAMESPACE_TYPES, PROC_NS_NAME, type NamespaceType } from './kinds';
import { bindPin, preparePinTarget, removeCreatedFile, resolvePinPath, unpinFile, type UnpinOptions } from './pin';
import { scanNamespaces } from './scan';
import { userNames } from './users';

export type { NamespaceCreateOptions, UnpinOptions };

/** One row of Namespace.list(): a namespace and what lsns would say about it. */
export interface NamespaceListEntry {
  /** the namespace itself */
  namespace: Namespace;
  /** its type (lsns' TYPE) */
  type: NamespaceType;
  /** its nsfs inode (lsns' NS) */
  inode: number;
  /** member processes visible to the caller, ascending (empty for one held only by a pin) */
  pids: number[];
  /** the lowest member pid (lsns' PID), null when none */
  pid: number | null;
  /** the uid of that process (lsns' UID); null when there is none */
  uid: number | null;
  /** that uid's user name (lsns' USER), or the uid as a string when it has none; null when there is no process */
  user: string | null;
  /** its command line, or a kernel thread's name (lsns' COMMAND) */
  command: string | null;
  /** inode of the owning user namespace (lsns' ONS); null when outside the caller's view */
  owner: number | null;
  /** pid and user namespaces: inode of the parent (lsns' PNS); null at the top the caller can see */
  parent: number | null;
  /** files it is pinned on in the caller's mount namespace (nsfs mounts) */
  pins: string[];
}

/** Namespace.list()'s result: the rows, and the processes whose namespaces were not readable. */
export type NamespaceList = NamespaceListEntry[] & {
  /** pids the caller may not inspect (another user's, or protected by the kernel): their
   *  namespaces are missing from the list unless another process shows them */
  unreadable: number[];
};

const INTERNAL = Symbol('nsgroups.Namespace');
const EPERM = -1;
const PID_MAX = 4194304; // PID_MAX_LIMIT on 64-bit (proc(5): /proc/sys/kernel/pid_max)

interface Held {
  fd: number;
  holder: PidHolder | null;
}

// A Namespace that holds an fd and is collected without close() still closes it.
const finalizer = new FinalizationRegistry<Held>((held) => {
  closeQuietly(held.fd);
  void held.holder?.stop();
});

async function statNamespace(pid: number | undefined, type: NamespaceType): Promise<{ path: string; stat: fs.Stats }> {
  const proc = `/proc/${pid ?? process.pid}`;
  const nsPath = `${proc}/ns/${PROC_NS_NAME[type]}`;
  try {
    return { path: nsPath, stat: await fsp.stat(nsPath) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (fs.existsSync(`${proc}/ns`)) {
        throw unsupported(`this kernel has no ${type} namespaces (${nsPath} does not exist)`);
      }
      throw new NsgroupsError('ERR_NOT_FOUND', `no process with pid ${pid}`, { errno: -2, syscall: 'stat', path: nsPath });
    }
    throw fromNodeError(err, `reading the ${type} namespace of pid ${pid ?? process.pid}`, {
      path: nsPath,
      hint: "another user's process: reading its namespaces needs ptrace access (same uid, or CAP_SYS_PTRACE)",
    });
  }
}

/**
 * One namespace, known by its nsfs identity (device and inode), and a file that opens it: a
 * /proc/PID/ns/TYPE entry or a pin. Hand it to spawn's `join` to enter it. Made with
 * Namespace.of(), all(), open(), create() or list().
 * @example
 * const net = await Namespace.create('net', { pin: '/run/nsgroups/net/blue' });
 * await run('ip', ['link'], { join: [net] });
 * await Namespace.unpin('/run/nsgroups/net/blue');
 */
export class Namespace {
  /** what kind of namespace it is */
  readonly type: NamespaceType;
  /** the namespace's inode number on nsfs: what /proc/PID/ns/TYPE shows as TYPE:[inode] */
  readonly inode: number;
  /** the nsfs device; together with inode, the namespace's identity */
  readonly dev: number;
  /** a file that opens this namespace (O_RDONLY) for setns(2); see the class comment */
  readonly path: string;
  #held: Held | null;
  #closed = false;

  /** @internal use Namespace.of, all, open, create, list, or parent()/owner() */
  constructor(token: typeof INTERNAL, identity: Identity, nsPath: string, held: Held | null = null) {
    if (token !== INTERNAL) throw new TypeError('Namespace has no public constructor: use Namespace.of, open or create');
    this.type = identity.type;
    this.inode = identity.inode;
    this.dev = identity.dev;
    this.path = nsPath;
    this.#held = held;
    if (held) finalizer.register(this, held, this);
  }

  /**
   * The namespace of `type` that process `pid` is in (default: the calling process).
   * @throws NsgroupsError ERR_INVALID_ARG for a bad pid or type; ERR_NOT_FOUND when there is no
   * such process; ERR_UNSUPPORTED when the kernel has no such namespaces; ERR_PERMISSION for
   * another user's process
   * @example
   * const mine = await Namespace.of('net');
   * const theirs = await Namespace.of(pid, 'net');
   * mine.equals(theirs);
   */
  static of(type: NamespaceType): Promise<Namespace>;
  static of(pid: number | undefined, type: NamespaceType): Promise<Namespace>;
  static async of(pidOrType?: number | NamespaceType, maybeType?: NamespaceType): Promise<Namespace> {
    const [pidArg, typeArg] = typeof pidOrType === 'string' && maybeType === undefined ? [undefined, pidOrType] : [pidOrType, maybeType];
    const type = checkOneOf(typeArg, NAMESPACE_TYPES, 'namespace type');
    const pid = pidArg === undefined ? undefined : checkInteger(pidArg, 'pid', 1, PID_MAX);
    const { path: nsPath, stat } = await statNamespace(pid, type);
    return new Namespace(INTERNAL, { type, inode: stat.ino, dev: stat.dev }, nsPath);
  }

  /**
   * Every namespace of process `pid` (default: the calling process), by type. Types this
   * kernel does not have (time before 5.6, cgroup before 4.6) are absent.
   * @throws NsgroupsError ERR_NOT_FOUND when there is no such process; ERR_PERMISSION for another user's
   * @example
   * const { pid, user } = await Namespace.all(child.pid);
   */
  static async all(pid?: number): Promise<Record<NamespaceType, Namespace>> {
    if (pid !== undefined) checkInteger(pid, 'pid', 1, PID_MAX);
    const result = {} as Record<NamespaceType, Namespace>;
    for (const type of NAMESPACE_TYPES) {
      try {
        result[type] = await Namespace.of(pid, type);
      } catch (err) {
        if (!(err instanceof NsgroupsError && err.code === 'ERR_UNSUPPORTED')) throw err;
      }
    }
    return result;
  }

  /**
   * The namespace a file opens: a pin, or /proc/PID/ns/TYPE.
   * @throws NsgroupsError ERR_INVALID_ARG if it is no namespace; ERR_NOT_FOUND if it does not exist
   * @example
   * const blue = await Namespace.open('/run/nsgroups/net/blue');
   */
  static async open(file: string): Promise<Namespace> {
    const nsPath = path.resolve(checkString(file, 'path'));
    const identity = withNamespaceFd(nsPath, `opening ${nsPath}`, (fd) => identify(fd, nsPath));
    return new Namespace(INTERNAL, identity, nsPath);
  }

  /**
   * Removes the pin at `file` (unmount; the file too if this process created it, or with
   * { remove: true }). A pid namespace made by create() ends with its pin.
   * @throws NsgroupsError ERR_NOT_FOUND when no namespace is pinned there; ERR_PERMISSION without root
   * @example
   * await Namespace.unpin('/run/nsgroups/net/blue', { remove: true });
   */
  static async unpin(file: string, options?: UnpinOptions): Promise<void> {
    await unpinFile(file, options);
  }

  /**
   * A new, empty namespace (see NamespaceCreateOptions): pinned at `pin`, or else held by this
   * object until close(). Without root it is owned by a new user namespace (owner() shows it).
   * 'pid' keeps a holder init alive while pinned or open; 'time' takes timeOffsets (written before anyone enters it).
   * @throws NsgroupsError ERR_INVALID_ARG for a bad type or an option of another type
   * (network, timeOffsets); ERR_BUSY when the pin path is already a mount point; the spawn's
   * error when the kernel refuses the namespace (ERR_PERMISSION, ERR_UNSUPPORTED)
   * @example
   * using ipc = await Namespace.create('ipc'); // held by this object until close()
   */
  static async create(type: NamespaceType, options?: NamespaceCreateOptions): Promise<Namespace> {
    const made = await createNamespace(type, options);
    if (made.pinPath !== undefined) return new Namespace(INTERNAL, made.identity, made.pinPath);
    return new Namespace(INTERNAL, made.identity, `/proc/${process.pid}/fd/${made.fd}`, {
      fd: made.fd!,
      holder: made.holder ?? null,
    });
  }

  /**
   * Every namespace on the host that the caller can see, with its processes (like lsns).
   * @example
   * for (const e of await Namespace.list()) console.log(e.type, e.inode, e.pids.length, e.command);
   */
  static async list(): Promise<NamespaceList> {
    const { namespaces, unreadable } = await scanNamespaces();
    const names = await userNames();
    const entries: NamespaceListEntry[] = namespaces.map((s) => ({
      namespace: new Namespace(INTERNAL, s.identity, s.path),
      type: s.identity.type,
      inode: s.identity.inode,
      pids: s.pids,
      pid: s.pids[0] ?? null,
      uid: s.uid,
      user: s.uid === null ? null : (names.get(s.uid) ?? String(s.uid)),
      command: s.command,
      owner: s.owner,
      parent: s.parent,
      pins: s.pins,
    }));
    return Object.assign(entries, { unreadable });
  }

  /**
   * Same namespace (type, device and inode).
   * @example
   * (await Namespace.of('pid')).equals(await Namespace.of(process.pid, 'pid')); // true
   */
  equals(other: unknown): boolean {
    return other instanceof Namespace && other.type === this.type && other.inode === this.inode && other.dev === this.dev;
  }

  /**
   * An fd (O_RDONLY, close-on-exec) of this namespace, for setns(2); the caller closes it.
   * Checked against this namespace's identity: ERR_NOT_FOUND when `path` no longer leads here
   * (the process exited, its pid was reused, the pin was removed, the object was closed).
   * @throws NsgroupsError ERR_NOT_FOUND as said; ERR_PERMISSION for another user's process
   * @example
   * const fd = ns.openFd();
   * try { … } finally { fs.closeSync(fd); }
   */
  openFd(): number {
    if (this.#closed) throw new NsgroupsError('ERR_NOT_FOUND', `namespace ${this} was closed`);
    const fd = openNamespacePath(this.path, `opening namespace ${this}`);
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (err) {
      closeQuietly(fd);
      throw fromNodeError(err, `checking namespace ${this}`, { path: this.path });
    }
    if (st.ino !== this.inode || st.dev !== this.dev) {
      closeQuietly(fd);
      throw new NsgroupsError(
        'ERR_NOT_FOUND',
        `${this.path} no longer leads to namespace ${this}: the process that was in it has exited ` +
          '(pin the namespace to keep it, or hold it with Namespace.create)',
        { path: this.path },
      );
    }
    return fd;
  }

  /**
   * The parent pid or user namespace; null at the top of the hierarchy the caller can see.
   * @throws NsgroupsError ERR_INVALID_ARG for a namespace of another type
   * @example
   * const up = await (await Namespace.of(child.pid, 'pid')).parent();
   */
  async parent(): Promise<Namespace | null> {
    if (this.type !== 'pid' && this.type !== 'user') {
      throw invalidArg(`only pid and user namespaces have a parent; this is a ${this.type} namespace (owner() gives its user namespace)`);
    }
    return this.#related('nsGetParent', 'NS_GET_PARENT');
  }

  /**
   * The user namespace that owns this one (for a user namespace: its parent); null when it
   * is outside the caller's view.
   * @example
   * const owner = await (await Namespace.of(child.pid, 'net')).owner();
   */
  async owner(): Promise<Namespace | null> {
    return this.#related('nsGetUserns', 'NS_GET_USERNS');
  }

  /**
   * The uid (in the caller's user namespace) of whoever created the owning user namespace
   * (for a user namespace: its own creator); null when the owner is out of view.
   * @example
   * const uid = await ns.ownerUid();
   */
  async ownerUid(): Promise<number | null> {
    if (this.type === 'user') {
      const fd = this.openFd();
      try {
        return native().nsGetOwnerUid(fd);
      } catch (err) {
        throw systemError((err as NativeError).errno, 'ioctl', `NS_GET_OWNER_UID on ${this}`, { path: this.path });
      } finally {
        closeQuietly(fd);
      }
    }
    const owner = await this.owner();
    if (!owner) return null;
    try {
      return await owner.ownerUid();
    } finally {
      owner.close();
    }
  }

  /**
   * Pins this namespace on `file` (created if missing; its directory must exist), so that it
   * lives with no member process until Namespace.unpin(file). Needs root. Returns the
   * namespace as reached through the pin. A pid namespace stays usable only while its init
   * lives: pin one made by Namespace.create('pid', { pin }) instead.
   * @throws NsgroupsError ERR_UNSUPPORTED for an unpinned pid namespace from create(); ERR_BUSY
   * when `file` is already a mount point; ERR_NOT_FOUND when its directory is missing or the
   * namespace is gone; ERR_PERMISSION without root
   * @example
   * const pinned = await (await Namespace.of(child.pid, 'net')).pin('/run/nsgroups/net/blue');
   */
  async pin(file: string): Promise<Namespace> {
    const target = resolvePinPath(file, 'pin path');
    if (this.#held?.holder) {
      throw unsupported(
        "a pid namespace made by Namespace.create without a pin lives only as long as this object; pin it at creation: Namespace.create('pid', { pin })",
      );
    }
    const created = await preparePinTarget(target);
    try {
      const fd = this.openFd();
      try {
        bindPin(fd, target, created);
      } finally {
        closeQuietly(fd);
      }
    } catch (err) {
      if (created) await removeCreatedFile(target);
      throw err;
    }
    return new Namespace(INTERNAL, { type: this.type, inode: this.inode, dev: this.dev }, target);
  }

  /**
   * Lets go of the fd this object holds (one from create() without a pin, parent(), owner());
   * a no-op for namespaces reached through /proc/PID/ns or a pin. Ends a pid namespace's holder.
   * @example
   * const ns = await Namespace.create('uts');
   * ns.close();
   */
  close(): void {
    const held = this.#held;
    if (!held) return;
    this.#held = null;
    this.#closed = true;
    finalizer.unregister(this);
    closeQuietly(held.fd);
    void held.holder?.stop();
  }

  /**
   * `using ns = await Namespace.create(...)`: close() at the end of the block.
   * @example
   * using ns = await Namespace.create('ipc');
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * "net:[4026531840]", as /proc/PID/ns/net reads.
   * @example
   * String(await Namespace.of('net')); // 'net:[4026531840]'
   */
  toString(): string {
    return `${PROC_NS_NAME[this.type]}:[${this.inode}]`;
  }

  /**
   * The namespace as plain data, for JSON.stringify.
   * @example
   * JSON.stringify(await Namespace.of('net')); // {"type":"net","inode":4026531840,"dev":4,"path":"/proc/1234/ns/net"}
   */
  toJSON(): {
    /** its type */
    type: NamespaceType;
    /** its nsfs inode */
    inode: number;
    /** the nsfs device */
    dev: number;
    /** the file that opens it */
    path: string;
  } {
    return { type: this.type, inode: this.inode, dev: this.dev, path: this.path };
  }

  #related(op: 'nsGetParent' | 'nsGetUserns', ioctlName: string): Namespace | null {
    const fd = this.openFd();
    let related: number;
    try {
      related = native()[op](fd);
    } catch (err) {
      const e = err as NativeError;
      if (e.errno === EPERM) return null; // ioctl_ns(2): outside the caller's view
      throw systemError(e.errno, 'ioctl', `${ioctlName} on ${this}`, { path: this.path });
    } finally {
      closeQuietly(fd);
    }
    let identity: Identity;
    try {
      identity = identify(related, `/proc/${process.pid}/fd/${related}`);
    } catch (err) {
      closeQuietly(related);
      throw err;
    }
    return new Namespace(INTERNAL, identity, `/proc/${process.pid}/fd/${related}`, { fd: related, holder: null });
  }
}
