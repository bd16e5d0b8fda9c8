// The scan behind Namespace.list(): every process's /proc/PID/ns links, grouped by namespace,
// plus the namespaces pinned in the caller's mount namespace (nsfs mounts in mountinfo), which
// may have no process at all. The host is busy: processes come and go while we read, so
// ENOENT/ESRCH mean "gone" and are skipped; EACCES/EPERM (another user's process, or one the
// kernel protects) mean "not visible to this caller" and are reported, not fatal.
import { fstatSync, promises as fsp } from 'node:fs';
import type { NativeError } from '../../types/native';
import { native } from '../native';
import { closeQuietly, type Identity } from './fd';
import { NAMESPACE_TYPES, parseNsLink, PROC_NS_NAME, type NamespaceType } from './kinds';
import { readMountinfo } from './mountinfo';

export interface ScannedNamespace {
  identity: Identity;
  /** a path that opens it: /proc/LOWEST/ns/TYPE, or a pin */
  path: string;
  /** member processes, ascending */
  pids: number[];
  uid: number | null;
  command: string | null;
  /** inode of the owning user namespace; null when outside the caller's view */
  owner: number | null;
  /** pid and user namespaces: inode of the parent; null at the top the caller can see */
  parent: number | null;
  pins: string[];
}

export interface ScanResult {
  namespaces: ScannedNamespace[];
  /** processes whose namespaces the caller may not read */
  unreadable: number[];
}

interface ProcessNamespaces {
  pid: number;
  uid: number;
  links: Array<{ type: NamespaceType; inode: number }>;
}

const BATCH = 64;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

async function readProcess(pid: number, types: readonly NamespaceType[]): Promise<ProcessNamespaces | 'gone' | 'unreadable'> {
  try {
    const { uid } = await fsp.stat(`/proc/${pid}`);
    const links = await Promise.all(
      types.map(async (type) => ({ type, inode: parseNsLink(await fsp.readlink(`/proc/${pid}/ns/${PROC_NS_NAME[type]}`))!.inode })),
    );
    return { pid, uid, links };
  } catch (err) {
    const code = errCode(err);
    if (code === 'EACCES' || code === 'EPERM') return 'unreadable';
    return 'gone'; // ENOENT, ESRCH, or a zombie (no namespaces left)
  }
}

/** lsns' COMMAND: the command line, or the name of a kernel thread (which has none). */
async function commandOf(pid: number): Promise<string> {
  const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
  const args = cmdline.split('\0');
  if (args.at(-1) === '') args.pop();
  if (args.length > 0) return args.join(' ');
  return (await fsp.readFile(`/proc/${pid}/comm`, 'utf8')).replace(/\n$/, '');
}

function relatedInode(fd: number, op: 'nsGetUserns' | 'nsGetParent'): number | null {
  let related: number;
  try {
    related = native()[op](fd);
  } catch (err) {
    if ((err as NativeError).errno === -1) return null; // EPERM: outside what we can see
    throw err;
  }
  try {
    return fstatSync(related).ino;
  } finally {
    closeQuietly(related);
  }
}

/** Owner and parent through a path that still opens the namespace `inode`; undefined if none does. */
async function relations(path: string, type: NamespaceType, inode: number): Promise<{ owner: number | null; parent: number | null } | undefined> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if ((await handle.stat()).ino !== inode) return undefined; // the pid was reused
    const owner = relatedInode(handle.fd, 'nsGetUserns');
    const parent = type === 'pid' || type === 'user' ? relatedInode(handle.fd, 'nsGetParent') : null;
    return { owner, parent };
  } finally {
    await handle.close();
  }
}

export async function scanNamespaces(): Promise<ScanResult> {
  const selfNs = await fsp.readdir('/proc/self/ns');
  const types = NAMESPACE_TYPES.filter((t) => selfNs.includes(PROC_NS_NAME[t]));
  const dev = (await fsp.stat(`/proc/self/ns/${PROC_NS_NAME[types[0]]}`)).dev; // nsfs: one device

  const pids = (await fsp.readdir('/proc'))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  const unreadable: number[] = [];
  const groups = new Map<string, { type: NamespaceType; inode: number; members: ProcessNamespaces[]; pins: string[] }>();
  const groupOf = (type: NamespaceType, inode: number) => {
    const key = `${type}:${inode}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { type, inode, members: [], pins: [] }));
    return g;
  };

  for (let i = 0; i < pids.length; i += BATCH) {
    const batch = await Promise.all(pids.slice(i, i + BATCH).map((pid) => readProcess(pid, types)));
    batch.forEach((p, j) => {
      if (p === 'unreadable') unreadable.push(pids[i + j]);
      else if (p !== 'gone') for (const l of p.links) groupOf(l.type, l.inode).members.push(p);
    });
  }
  for (const m of await readMountinfo()) {
    const ns = m.fstype === 'nsfs' ? parseNsLink(m.root) : undefined;
    if (ns) groupOf(ns.type, ns.inode).pins.push(m.mountPoint);
  }

  const namespaces: ScannedNamespace[] = [];
  for (const g of groups.values()) {
    // the lowest member that is still there gives the command, uid and a path to open
    let found: { pid: number; uid: number; command: string; rel: { owner: number | null; parent: number | null } } | undefined;
    const members = g.members.slice();
    while (members.length > 0 && !found) {
      const m = members[0];
      const path = `/proc/${m.pid}/ns/${PROC_NS_NAME[g.type]}`;
      try {
        const rel = await relations(path, g.type, g.inode);
        if (rel) found = { pid: m.pid, uid: m.uid, command: await commandOf(m.pid), rel };
      } catch {
        /* gone between the reads */
      }
      if (!found) members.shift();
    }
    let path = found ? `/proc/${found.pid}/ns/${PROC_NS_NAME[g.type]}` : undefined;
    let rel = found?.rel;
    for (const pin of g.pins) {
      if (path) break;
      rel = await relations(pin, g.type, g.inode);
      if (rel) path = pin;
    }
    if (!path || !rel) continue; // vanished while we looked
    namespaces.push({
      identity: { type: g.type, inode: g.inode, dev },
      path,
      pids: members.map((m) => m.pid),
      uid: found?.uid ?? null,
      command: found?.command ?? null,
      owner: rel.owner,
      parent: rel.parent,
      pins: g.pins,
    });
  }
  namespaces.sort((a, b) => a.identity.inode - b.identity.inode);
  return { namespaces, unreadable };
}
