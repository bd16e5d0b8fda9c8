// Namespace.list() against util-linux lsns on the same host. The host is busy (other sessions
// start and end processes), so counts are compared only where they are stable: the namespaces
// of sandboxes this test started and holds open. Both lanes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { formatNamespaceTable, Namespace, run, type NamespaceList, type NamespaceListEntry, type SandboxProcess } from '../lib';
import { isRoot } from './helpers/host';
import { initOf, startSleeper, stopSleeper } from './helpers/sandbox';

interface Lsns {
  ns: number;
  type: string;
  nprocs: number;
  pid: number;
  uid: number;
  user: string;
  command: string;
  pns: number;
  ons: number;
  children?: Lsns[];
}

const NEW = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup'] as const;
const lsnsType = (t: string) => (t === 'mount' ? 'mnt' : t);

function lsns(): Lsns[] {
  // lsns itself gives up when a process vanishes under its scan (other tests spawn and reap all
  // the time): a few tries
  let out: { namespaces: Lsns[] } | undefined;
  for (let attempt = 0; !out; attempt++) {
    try {
      out = JSON.parse(
        execFileSync('lsns', ['-J', '-o', 'NS,TYPE,NPROCS,PID,UID,USER,COMMAND,PNS,ONS'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      );
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  // with PNS/ONS columns lsns may nest rows as a tree: flatten
  const flat: Lsns[] = [];
  const walk = (rows: Lsns[]) => rows.forEach((r) => (flat.push(r), walk(r.children ?? [])));
  walk(out.namespaces);
  return flat;
}

function find(list: NamespaceListEntry[], type: string, inode: number): NamespaceListEntry | undefined {
  return list.find((e) => e.type === type && e.inode === inode);
}

let sandbox: SandboxProcess;
let other: SandboxProcess;
let list: NamespaceList;
let theirs: Lsns[];

beforeAll(async () => {
  sandbox = await startSleeper([...NEW]);
  other = await startSleeper(['user', 'net', 'uts']); // a second, smaller one
  theirs = lsns();
  list = await Namespace.list();
});
afterAll(async () => {
  await stopSleeper(sandbox);
  await stopSleeper(other);
});

it("lists a held sandbox's namespaces exactly as lsns does: members, lowest pid, command, user, parent, owner", async () => {
  const members = [sandbox.pid!, initOf(sandbox.pid!)].sort((a, b) => a - b);
  for (const type of NEW) {
    const ns = await Namespace.of(sandbox.pid!, type);
    const mine = find(list, type, ns.inode)!;
    const lsnsRow = theirs.find((r) => r.ns === ns.inode && r.type === lsnsType(type))!;
    expect(mine).toBeDefined();
    expect(lsnsRow).toBeDefined();
    expect(mine.pids).toEqual(members);
    expect(mine.pids.length).toBe(lsnsRow.nprocs);
    expect({ pid: mine.pid, uid: mine.uid, user: mine.user, command: mine.command }).toEqual({
      pid: lsnsRow.pid,
      uid: lsnsRow.uid,
      user: lsnsRow.user,
      command: lsnsRow.command,
    });
    expect(mine.owner ?? 0).toBe(lsnsRow.ons);
    expect(mine.parent ?? 0).toBe(lsnsRow.pns);
    expect(mine.namespace.equals(ns)).toBe(true);
  }
});

it("lists the caller's own namespaces as lsns does (lowest pid, command, owner, parent), with the caller among the members", async () => {
  const own = Object.values(await Namespace.all());
  // The caller's namespaces hold every process of its user (as a user: other tests' short-lived
  // children too), so their lowest pid can change between the two scans: scan both again (up
  // to ten times) until they agree on it; a real difference disagrees every time.
  const rows = (l: NamespaceList, t: Lsns[]) =>
    own.map((ns) => {
      const mine = find(l, ns.type, ns.inode)!;
      const lsnsRow = t.find((r) => r.ns === ns.inode && r.type === lsnsType(ns.type))!;
      return { mine, lsnsRow };
    });
  const agree = (pairs: ReturnType<typeof rows>) => pairs.every(({ mine, lsnsRow }) => mine.pid === lsnsRow.pid && mine.command === lsnsRow.command);
  let pairs = rows(list, theirs);
  for (let attempt = 0; attempt < 10 && !agree(pairs); attempt++) {
    const t = lsns();
    pairs = rows(await Namespace.list(), t);
  }
  for (const { mine, lsnsRow } of pairs) {
    expect(mine.pids).toContain(process.pid);
    expect({ pid: mine.pid, command: mine.command, user: mine.user }).toEqual({ pid: lsnsRow.pid, command: lsnsRow.command, user: lsnsRow.user });
    expect(mine.owner ?? 0).toBe(lsnsRow.ons);
    expect(mine.parent ?? 0).toBe(lsnsRow.pns);
  }
});

it('every namespace lsns shows for a process both saw is listed, with the same type and inode', () => {
  // lsns and list() ran back to back; processes may have started or ended between them, so
  // compare only rows whose lowest pid is still alive and was seen by both
  for (const row of theirs) {
    if (!fs.existsSync(`/proc/${row.pid}`)) continue;
    const mine = list.find((e) => e.inode === row.ns);
    if (!mine?.pids.includes(row.pid)) continue;
    expect(lsnsType(mine.type)).toBe(row.type);
  }
  const sandboxes = [sandbox.pid!, other.pid!];
  for (const pid of sandboxes) expect(list.some((e) => e.pids.includes(pid))).toBe(true);
});

it('rows are consistent: sorted unique members, the lowest first, a path that opens the namespace', () => {
  for (const e of list) {
    expect([...new Set(e.pids)].sort((a, b) => a - b)).toEqual(e.pids);
    expect(e.pid).toBe(e.pids[0] ?? null);
    expect(e.namespace.type).toBe(e.type);
  }
  const row = find(list, 'net', list.find((e) => e.pids.includes(other.pid!) && e.type === 'net')!.inode)!;
  expect(fs.statSync(row.namespace.path).ino).toBe(row.inode);
});

it('says which processes it could not read instead of failing (each really is unreadable)', () => {
  for (const pid of list.unreadable) {
    let code: string | undefined;
    try {
      fs.readlinkSync(`/proc/${pid}/ns/net`);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(['EACCES', 'EPERM', 'ENOENT']).toContain(code);
    expect(list.some((e) => e.pids.includes(pid))).toBe(false);
  }
  // pid 1 is always there: either readable and listed, or reported
  expect(list.unreadable.includes(1) || list.some((e) => e.pids.includes(1))).toBe(true);
  if (!isRoot) {
    // another user's processes: init and kthreadd belong to root
    expect(list.unreadable).toEqual(expect.arrayContaining([1, 2]));
  }
});

it('processes that vanish during the scan are skipped, not fatal', async () => {
  let stop = false;
  const churn = (async () => {
    while (!stop) await Promise.all(Array.from({ length: 4 }, () => run('true', [], { namespaces: ['user', 'uts'] })));
  })();
  try {
    for (let i = 0; i < 5; i++) {
      const l = await Namespace.list();
      expect(l.length).toBeGreaterThan(0);
      for (const e of l) expect(e.pids.length > 0 || e.pins.length > 0).toBe(true);
    }
  } finally {
    stop = true;
    await churn;
  }
});

it("formatNamespaceTable prints lsns' default columns, with the rows lsns prints", () => {
  const text = formatNamespaceTable(list);
  const lines = text.split('\n');
  const lsnsText = execFileSync('lsns', ['-u'], { encoding: 'utf8' }).split('\n');
  expect(lines[0].trim().split(/\s+/)).toEqual(lsnsText[0].trim().split(/\s+/));
  for (const type of ['net', 'uts'] as const) {
    const inode = Number(/\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${other.pid}/ns/${type}`))![1]);
    const mineLine = lines.find((l) => l.trim().startsWith(`${inode} `))!;
    const theirLine = lsnsText.find((l) => l.trim().startsWith(`${inode} `))!;
    expect(mineLine.trim().split(/\s+/)).toEqual(theirLine.trim().split(/\s+/));
  }
  if (list.unreadable.length > 0) expect(lines.at(-1)).toMatch(/not readable/);
});
