// uid_map / gid_map of a new user namespace, written by the parent while the child waits
// (user_namespaces(7)). An unprivileged writer may map only its own ids, one line each, after
// denying setgroups; ranges (e.g. 0 → 100000, 65536) need root, or the setuid helpers
// newuidmap/newgidmap with entries in /etc/subuid and /etc/subgid.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeIdMapWrites } from '../../types/native';
import { errnoName, fromNodeError, invalidArg, NsgroupsError } from '../errors';
import { checkArray, checkId, checkInteger, checkKeys, checkObject } from '../util/validate';

/**
 * One line of a uid_map or gid_map (user_namespaces(7)): `count` ids from `inside` map to as many
 * from `outside`. Ranges beyond the caller's own id need root, or newuidmap/newgidmap with
 * /etc/subuid and /etc/subgid entries.
 * @example
 * spawn('id', [], { namespaces: ['user'], uidMap: [{ inside: 0, outside: 100000, count: 65536 }], gidMap: [{ inside: 0, outside: 100000, count: 65536 }] });
 */
export interface IdMapEntry {
  /** first id inside the namespace */
  inside: number;
  /** first id outside (in the caller's user namespace) */
  outside: number;
  /** how many consecutive ids */
  count: number;
}

export interface IdMaps {
  uid: IdMapEntry[];
  gid: IdMapEntry[];
  /** how they get written: by us, or by the setuid helpers for an unprivileged caller's ranges */
  writer: 'direct' | 'newidmap';
  /** 'deny' is required before an unprivileged gid_map; root keeps setgroups allowed */
  setgroups: 'allow' | 'deny';
}

const MAX_LINES = 340; // user_namespaces(7): since Linux 4.15

export function resolveIdMap(value: unknown, what: string): IdMapEntry[] {
  const entries = checkArray(value, what).map((e, i) => {
    const o = checkObject(e, `${what}[${i}]`);
    checkKeys(o, ['inside', 'outside', 'count'], `${what}[${i}]`);
    const entry = {
      inside: checkId(o.inside, `${what}[${i}].inside`),
      outside: checkId(o.outside, `${what}[${i}].outside`),
      count: checkInteger(o.count, `${what}[${i}].count`, 1, 0xffffffff),
    };
    if (entry.inside + entry.count > 0xffffffff || entry.outside + entry.count > 0xffffffff) {
      throw invalidArg(`${what}[${i}] reaches beyond id 4294967294`);
    }
    return entry;
  });
  if (entries.length === 0) throw invalidArg(`${what} must map at least one range`);
  if (entries.length > MAX_LINES) throw invalidArg(`${what} has more than ${MAX_LINES} ranges (the kernel's limit)`);
  for (const side of ['inside', 'outside'] as const) {
    const sorted = [...entries].sort((a, b) => a[side] - b[side]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][side] < sorted[i - 1][side] + sorted[i - 1].count) {
        throw invalidArg(`${what}: ranges overlap ${side} the namespace (at ${sorted[i][side]})`);
      }
    }
  }
  return entries;
}

/** The id outside that `id` inside maps to, or null if it is not mapped. */
export function outsideOf(entries: IdMapEntry[], id: number): number | null {
  const e = entries.find((x) => id >= x.inside && id < x.inside + x.count);
  return e ? e.outside + (id - e.inside) : null;
}

/** The id inside that `id` outside is mapped to, or null if it is not mapped. */
export function insideOf(entries: IdMapEntry[], id: number): number | null {
  const e = entries.find((x) => id >= x.outside && id < x.outside + x.count);
  return e ? e.inside + (id - e.outside) : null;
}

/** Decides who writes the maps and checks what can be checked before anything exists. */
export function planIdMaps(
  uid: IdMapEntry[],
  gid: IdMapEntry[],
  caller = { euid: process.geteuid!(), egid: process.getegid!() },
  findTool: (name: string) => string | null = findInPath,
): IdMaps {
  const { euid, egid } = caller;
  if (euid === 0) return { uid, gid, writer: 'direct', setgroups: 'allow' };
  const own = (entries: IdMapEntry[], id: number): boolean => entries.length === 1 && entries[0].count === 1 && entries[0].outside === id;
  if (own(uid, euid) && own(gid, egid)) return { uid, gid, writer: 'direct', setgroups: 'deny' };
  for (const tool of ['newuidmap', 'newgidmap']) {
    if (!findTool(tool)) {
      throw new NsgroupsError(
        'ERR_PERMISSION',
        `mapping ids other than your own (uid ${euid}, gid ${egid}) needs root, or ${tool} ` +
          '(Debian package uidmap) with ranges for your user in /etc/subuid and /etc/subgid',
      );
    }
  }
  return { uid, gid, writer: 'newidmap', setgroups: 'allow' };
}

function findInPath(tool: string): string | null {
  for (const dir of (process.env.PATH || '/usr/bin:/bin').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    const p = path.join(dir || '.', tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

const render = (entries: IdMapEntry[]): string => entries.map((e) => `${e.inside} ${e.outside} ${e.count}\n`).join('');

/** Writes the maps of the user namespace that `pid` is in (step uid_map/gid_map on failure). */
export async function writeIdMaps(pid: number, maps: IdMaps): Promise<void> {
  if (maps.writer === 'newidmap') {
    await runHelper('newuidmap', pid, maps.uid, 'uid_map');
    await runHelper('newgidmap', pid, maps.gid, 'gid_map');
    return;
  }
  writeIdMapsSync(pid, maps);
}

const MAP_FILES = { setgroups: 'denying setgroups', uid_map: 'writing uid_map', gid_map: 'writing gid_map' } as const;
type MapFile = keyof typeof MAP_FILES;

/** The error of a failed write of /proc/PID/<file> (err: Node's error, or the errno the addon saw). */
export function idMapWriteError(pid: number, file: MapFile, err: unknown): NsgroupsError {
  const target = `/proc/${pid}/${file}`;
  const cause =
    typeof err === 'number'
      ? Object.assign(new Error(`${errnoName(err)}: writing ${target}`), { errno: -err, code: errnoName(err), syscall: 'write', path: target })
      : err;
  return fromNodeError(cause, `${MAP_FILES[file]} of the sandbox's user namespace`, {
    path: target,
    step: file === 'gid_map' ? 'gid_map' : 'uid_map',
    hint: "only root may map ids other than the caller's own",
  });
}

/**
 * What the addon writes right after clone (spawn's second argument), for maps we write
 * ourselves; null for the helpers' (newuidmap), which run as processes.
 */
export function nativeIdMapWrites(maps: IdMaps): NativeIdMapWrites | null {
  if (maps.writer !== 'direct') return null;
  return { uidMap: render(maps.uid), gidMap: render(maps.gid), denySetgroups: maps.setgroups === 'deny' };
}

/** The synchronous path for maps we write ourselves (no helper process to wait for). */
export function writeIdMapsSync(pid: number, maps: IdMaps): void {
  const write = (file: MapFile, data: string): void => {
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, data);
    } catch (err) {
      throw idMapWriteError(pid, file, err);
    }
  };
  if (maps.setgroups === 'deny') write('setgroups', 'deny');
  write('uid_map', render(maps.uid));
  write('gid_map', render(maps.gid));
}

function runHelper(tool: string, pid: number, entries: IdMapEntry[], step: string): Promise<void> {
  const args = [String(pid), ...entries.flatMap((e) => [String(e.inside), String(e.outside), String(e.count)])];
  return new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: 'utf8', timeout: 10000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      reject(
        new NsgroupsError(
          'ERR_PERMISSION',
          `${tool} ${args.join(' ')} failed: ${(stderr || err.message).trim()}; ` +
            `the ranges must be granted to your user in /etc/${tool === 'newuidmap' ? 'subuid' : 'subgid'}`,
          { step, syscall: 'write', path: `/proc/${pid}/${step}`, cause: err },
        ),
      );
    });
  });
}
