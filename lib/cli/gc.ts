// `nsgroups gc`: removes what nsgroups processes that died left behind — and only that. Each
// thing carries its maker (lib/host/owner.ts: pid, start time, pid and time namespaces), and gc
// removes it only when it can prove that maker has exited:
//   - cgroups under the nsgroups base that Cgroup.create made (user.nsgroups.owner xattr), empty
//     (no process in any hierarchy) and with no child cgroup that stays; rmdir, never a kill;
//   - pinned pid namespaces of Namespace.create('pid', { pin }): a normal exit unpins them, a
//     crash leaves the pin and its holder (NSGROUPS_OWNER in its environment); removed when the
//     namespace holds nothing but its init and the holder. Pins of other namespaces are kept on
//     purpose at any exit (like `ip netns add`) and gc leaves them alone;
//   - scratch directories of `nsgroups run --overlay` (nsgroups-run-* with an `owner` file), and
//     those of Sandboxes (nsgroups-sandboxes-*, likewise; the janitor that removes them when
//     their process dies may have been killed with it). Kept sandboxes (nsgroups-kept-*) stay.
// Anything without a record, or whose maker lives, or that cannot be judged from here (another
// pid namespace), stays.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeBases, detectCgroupLayout } from '../cgroup/index';
import { rmdirRetrying } from '../cgroup/fsops';
import { V1_CONTROLLERS } from '../cgroup/v1';
import { OWNER_ENV, OWNER_XATTR, ownerState, parseOwnerRecord, type OwnerRecord } from '../host/owner';
import { HOLDER_ARGV0 } from '../namespace/holder';
import { Namespace } from '../namespace/index';
import { readMountinfo } from '../namespace/mountinfo';
import { native } from '../native';
import { clip, formatOptions, parseArgs, UsageError, type OptionSpec } from './args';
import { INIT_ARGV0 } from './sandboxes';
import { removeScratch } from './run';

export interface Leftover {
  kind: 'cgroup' | 'pin' | 'scratch';
  /** the cgroup's name below the base, the pin's path, the directory */
  what: string;
  /** why it goes, or why it stays */
  reason: string;
  /** present when it may be removed */
  remove?: () => Promise<void>;
}

function readRecord(read: () => string | null): OwnerRecord | null {
  try {
    const text = read();
    return text === null ? null : parseOwnerRecord(text);
  } catch {
    return null;
  }
}

function procsIn(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The cgroups under the base, judged children first. */
export async function cgroupLeftovers(): Promise<Leftover[]> {
  const bases = describeBases(await detectCgroupLayout(), V1_CONTROLLERS)
    .map((b) => b.path)
    .filter((p): p is string => p !== null && fs.existsSync(p));
  // name below the base → its directory in each hierarchy
  const dirs = new Map<string, string[]>();
  const walk = (base: string, dir: string): void => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      /* removed meanwhile */
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      const name = path.relative(base, full);
      dirs.set(name, [...(dirs.get(name) ?? []), full]);
      walk(base, full);
    }
  };
  for (const b of bases) walk(b, b);

  let xattrs: ((dir: string) => string | null) | null = null;
  try {
    const n = native();
    xattrs = (dir) => {
      try {
        return n.lgetxattr(dir, OWNER_XATTR).toString();
      } catch {
        return null;
      }
    };
  } catch {
    /* no addon: no records can be read */
  }

  const out: Leftover[] = [];
  const going = new Set<string>();
  const names = [...dirs.keys()].sort((a, b) => b.split('/').length - a.split('/').length || a.localeCompare(b));
  for (const name of names) {
    const where = dirs.get(name)!;
    const keep = (reason: string) => out.push({ kind: 'cgroup', what: name, reason });
    if (!xattrs) {
      keep('owner records cannot be read: the native addon did not load');
      continue;
    }
    const record = where.map((d) => readRecord(() => xattrs!(d))).find((r) => r !== null) ?? null;
    if (!record) {
      keep('no owner record (not made by Cgroup.create of this version, or made by hand)');
      continue;
    }
    const owner = ownerState(record);
    if (owner.state !== 'gone') {
      keep(owner.reason);
      continue;
    }
    const pids = [...new Set(where.flatMap(procsIn))];
    if (pids.length) {
      keep(`${owner.reason}, but it has processes (${pids.slice(0, 5).join(', ')}${pids.length > 5 ? ', …' : ''})`);
      continue;
    }
    const staying = names.filter((n) => n.startsWith(`${name}/`) && n.split('/').length === name.split('/').length + 1 && !going.has(n));
    if (staying.length) {
      keep(`${owner.reason}, but its child cgroups stay (${staying.join(', ')})`);
      continue;
    }
    going.add(name);
    out.push({
      kind: 'cgroup',
      what: name,
      reason: `${owner.reason} and it is empty`,
      // rmdir only (the kernel refuses it while a process or a child cgroup is there), in
      // every hierarchy; EBUSY just after the last exit is retried
      remove: async () => {
        for (const d of where) await rmdirRetrying(d, 2000);
      },
    });
  }
  return out;
}

interface ProcNs {
  pid: number;
  argv0: string;
}

/** The processes of pid namespace `inode` (as this process sees them). */
function membersOf(inode: number): ProcNs[] {
  const out: ProcNs[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.statSync(`/proc/${name}/ns/pid`).ino !== inode) continue;
      const argv0 = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[0];
      out.push({ pid: Number(name), argv0 });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

/** Pinned pid namespaces whose maker died (their holder names it). */
export async function pinLeftovers(): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const m of await readMountinfo()) {
    const pinned = m.fstype === 'nsfs' ? /^pid:\[(\d+)\]$/.exec(m.root) : null;
    if (!pinned) continue;
    const keep = (reason: string) => out.push({ kind: 'pin', what: m.mountPoint, reason });
    const members = membersOf(Number(pinned[1]));
    // the holder is the init's child or its sibling, depending on the addon's version: found by name
    const holder = members.find((p) => p.argv0 === HOLDER_ARGV0);
    const init = members.find((p) => p.argv0 === INIT_ARGV0);
    if (!holder || !init) {
      keep('no nsgroups holder in it (not made by Namespace.create, or its processes are not ours to read)');
      continue;
    }
    const record = readRecord(() => {
      const env = fs.readFileSync(`/proc/${holder.pid}/environ`, 'utf8').split('\0');
      return env.find((e) => e.startsWith(`${OWNER_ENV}=`))?.slice(OWNER_ENV.length + 1) ?? null;
    });
    if (!record) {
      keep('its holder names no maker (made by an older nsgroups)');
      continue;
    }
    const owner = ownerState(record);
    if (owner.state !== 'gone') {
      keep(owner.reason);
      continue;
    }
    const others = members.filter((p) => p !== holder && p !== init);
    if (others.length) {
      keep(
        `${owner.reason}, but the namespace is in use (${others
          .slice(0, 5)
          .map((p) => p.pid)
          .join(', ')})`,
      );
      continue;
    }
    out.push({
      kind: 'pin',
      what: m.mountPoint,
      reason: `${owner.reason}; only its holder is left in it`,
      // unpin ends the holder's init (and with it the namespace); the file goes if the maker made it
      remove: () => Namespace.unpin(m.mountPoint, { remove: record.extra.pin === 'created' }),
    });
  }
  return out;
}

/** Scratch directories of `nsgroups run --overlay` whose run died, and of Sandboxes whose process died. */
export function scratchLeftovers(): Leftover[] {
  const out: Leftover[] = [];
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith('nsgroups-run-') && !name.startsWith('nsgroups-sandboxes-')) continue;
    const dir = path.join(tmp, name);
    const st = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!st?.isDirectory() || st.uid !== process.geteuid!()) continue; // someone else's: not ours to judge
    const record = readRecord(() => fs.readFileSync(path.join(dir, 'owner'), 'utf8'));
    if (!record) {
      out.push({ kind: 'scratch', what: dir, reason: 'no owner file' });
      continue;
    }
    const owner = ownerState(record);
    out.push({ kind: 'scratch', what: dir, reason: owner.reason, ...(owner.state === 'gone' ? { remove: () => removeScratch(dir) } : {}) });
  }
  return out;
}

const GC_OPTIONS: OptionSpec[] = [
  { long: 'dry-run', short: 'n', help: 'say what would be removed, remove nothing' },
  { long: 'verbose', short: 'v', help: 'also list what stays, and why' },
  { long: 'help', short: 'h', help: 'this text' },
];

export const GC_USAGE = `usage: nsgroups gc [--dry-run] [--verbose]

Removes what nsgroups processes that died (a crash, SIGKILL) left behind: the empty cgroups they
made under the nsgroups base, the pid namespaces they pinned (with Namespace.create('pid',
{ pin })) and the scratch directories of 'nsgroups run --overlay' and of Sandboxes (not those
kept on purpose, nsgroups-kept-*). nsgroups records who made
each (pid and start time); gc removes a thing only when that process has provably exited, and
never a cgroup with processes in it. Pins of other namespaces are meant to outlive their maker
(like 'ip netns add') and stay. Exits 1 when something could not be removed.

options:
${formatOptions(GC_OPTIONS)}`;

export async function gc(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, GC_OPTIONS, false);
  if (positionals.length) throw new UsageError(`unexpected argument '${clip(positionals[0])}'`);
  const flags = new Set(options.map((o) => o.spec.long));
  if (flags.has('help')) {
    console.log(GC_USAGE);
    return 0;
  }
  const dryRun = flags.has('dry-run');
  const found = [...(await cgroupLeftovers()), ...(await pinLeftovers()), ...scratchLeftovers()];
  let removed = 0;
  let failed = 0;
  for (const item of found) {
    if (!item.remove) {
      if (flags.has('verbose')) console.log(`keeping ${item.kind} ${item.what}: ${item.reason}`);
      continue;
    }
    if (dryRun) {
      console.log(`would remove ${item.kind} ${item.what}: ${item.reason}`);
      removed++;
      continue;
    }
    try {
      await item.remove();
      console.log(`removed ${item.kind} ${item.what}: ${item.reason}`);
      removed++;
    } catch (err) {
      console.error(`nsgroups gc: could not remove ${item.kind} ${item.what}: ${(err as Error).message.split('\n')[0]}`);
      failed++;
    }
  }
  const kept = found.length - removed - failed;
  console.log(
    `${dryRun ? 'would remove' : 'removed'} ${removed}${failed ? `, failed ${failed}` : ''}; kept ${kept}${kept && !flags.has('verbose') ? ' (--verbose says why)' : ''}`,
  );
  return failed ? 1 : 0;
}
