// `nsgroups ls`: one row per sandbox running now (sandboxes.ts says what counts as one), with its
// namespaces, its cgroup and the cgroup's cpu, memory and pids against their limits.
import { NAMESPACE_TYPES, PROC_NS_NAME, type NamespaceType } from '../namespace/kinds';
import type { Max } from '../util/units';
import { clip, formatOptions, parseArgs, UsageError, type OptionSpec } from './args';
import { listSandboxes, type Sandbox } from './sandboxes';

const COLUMNS: Record<string, { title: string; cell(s: Sandbox): string }> = {
  PID: { title: 'the pid spawn() returned (the command, or the init that started it)', cell: (s) => String(s.pid) },
  PPID: { title: 'the process that started it', cell: (s) => String(s.ppid) },
  USER: { title: 'its uid', cell: (s) => String(s.uid) },
  NS: { title: "namespaces it does not share with its parent ('-': none)", cell: (s) => nsList(s) || '-' },
  CGROUP: { title: "its cgroup (below the nsgroups base, or /path), when not its parent's", cell: (s) => s.cgroup?.name ?? '-' },
  CPU: { title: 'CPU time used / cpu.max in CPUs', cell: (s) => (s.cgroup ? pair(seconds(s.cgroup.cpu.usageUsec), s.cgroup.cpu.max, (m) => `${m}cpu`) : '-') },
  MEM: { title: 'memory used / memory.max', cell: (s) => (s.cgroup ? pair(bytes(s.cgroup.memory.current), s.cgroup.memory.max, bytes) : '-') },
  PIDS: { title: 'processes / pids.max', cell: (s) => (s.cgroup ? pair(s.cgroup.pids.current?.toString() ?? '?', s.cgroup.pids.max, String) : '-') },
  COMMAND: { title: 'the command', cell: (s) => (s.holder ? `${s.command.join(' ')} (holds a pinned pid namespace)` : s.command.join(' ')) },
};
const DEFAULT_COLUMNS = ['PID', 'NS', 'CGROUP', 'CPU', 'MEM', 'PIDS', 'COMMAND'];

function nsList(s: Sandbox): string {
  return NAMESPACE_TYPES.filter((t) => s.namespaces[t] !== undefined)
    .map((t) => PROC_NS_NAME[t])
    .join(',');
}

function seconds(usec: number | null): string {
  return usec === null ? '?' : `${(usec / 1e6).toFixed(2)}s`;
}

function bytes(n: number | null): string {
  if (n === null) return '?';
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i && v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[i]}`;
}

function pair(used: string, max: number | Max | null, fmt: (m: number) => string): string {
  return max === null || max === 'max' ? used : `${used}/${fmt(max)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Each starting process, its sandboxes below it, and their processes (COMMAND as the tree). */
function tree(sandboxes: Sandbox[], columns: string[]): string {
  const rows: string[][] = [columns];
  const cmd = columns.indexOf('COMMAND');
  const blank = (pid: number, command: string): string[] => columns.map((c, i) => (c === 'PID' ? String(pid) : i === cmd ? command : ''));
  const byParent = new Map<number, Sandbox[]>();
  for (const s of sandboxes) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  for (const [ppid, list] of byParent) {
    rows.push(blank(ppid, clip(list[0].parent.join(' ') || '?', 100)));
    list.forEach((s, i) => {
      const last = i === list.length - 1;
      const row = columns.map((c) => COLUMNS[c].cell(s));
      // a row whose top is the init says so; its command is one of the processes below it
      if (cmd >= 0) row[cmd] = `${last ? '└─' : '├─'} ${s.pid === s.initPid ? 'nsgroups-init' : row[cmd]}`;
      rows.push(row);
      const depth = new Map<number, number>([[s.pid, 0]]);
      for (const p of s.processes) {
        const d = (depth.get(p.ppid) ?? 0) + 1;
        depth.set(p.pid, d);
        rows.push(blank(p.pid, `${last ? '   ' : '│  '}${'   '.repeat(d - 1)}└─ ${p.argv.join(' ')}`));
      }
    });
  }
  return table(rows);
}

const LS_OPTIONS: OptionSpec[] = [
  { long: 'type', short: 't', value: 'TYPE', help: 'only sandboxes with their own namespace of TYPE (net, pid, mnt or mount, ...)' },
  { long: 'pid', short: 'p', value: 'PID', help: 'only the sandbox that process PID belongs to' },
  { long: 'output', short: 'o', value: 'LIST', help: `columns, comma-separated (default ${DEFAULT_COLUMNS.join(',')})` },
  { long: 'tree', short: 'T', help: 'each starting process, its sandboxes, and their processes as a tree' },
  { long: 'json', short: 'J', help: 'print the sandboxes as JSON (sizes in bytes, times in microseconds)' },
  { long: 'help', short: 'h', help: 'this text' },
];

export const LS_USAGE = `usage: nsgroups ls [-t TYPE] [-p PID] [-o LIST] [--tree | --json]

Lists the sandboxes running now, one row each. A sandbox is a process tree nsgroups started:
an nsgroups init (pid 1 of a new pid namespace), a process a Node process started in namespaces
of its own, or the top process of a cgroup under the nsgroups base. Its usage is its cgroup's.

options:
${formatOptions(LS_OPTIONS)}

columns:
${Object.entries(COLUMNS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.title}`)
  .join('\n')}`;

function nsTypeOf(text: string): NamespaceType {
  const t = text === 'mnt' ? 'mount' : text;
  if (!(NAMESPACE_TYPES as readonly string[]).includes(t)) throw new UsageError(`-t: unknown namespace type '${clip(text)}' (${NAMESPACE_TYPES.join(', ')})`);
  return t as NamespaceType;
}

export async function ls(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(argv, LS_OPTIONS, false);
  if (positionals.length) throw new UsageError(`unexpected argument '${clip(positionals[0])}'`);
  const one = (long: string) => options.filter((o) => o.spec.long === long).map((o) => o.value!);
  if (options.some((o) => o.spec.long === 'help')) {
    console.log(LS_USAGE);
    return 0;
  }
  const types = one('type')
    .flatMap((v) => v.split(','))
    .map(nsTypeOf);
  const pids = one('pid').map((v) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`-p: '${clip(v)}' is not a pid`);
    return Number(v);
  });
  const columns = (one('output').at(-1) ?? DEFAULT_COLUMNS.join(','))
    .split(',')
    .filter(Boolean)
    .map((c) => {
      const name = c.toUpperCase();
      if (!COLUMNS[name]) throw new UsageError(`-o: unknown column '${clip(c)}' (${Object.keys(COLUMNS).join(', ')})`);
      return name;
    });
  const json = options.some((o) => o.spec.long === 'json');
  const asTree = options.some((o) => o.spec.long === 'tree');
  if (json && asTree) throw new UsageError('--json and --tree: choose one');

  let sandboxes = await listSandboxes();
  if (types.length) sandboxes = sandboxes.filter((s) => types.every((t) => s.namespaces[t] !== undefined));
  if (pids.length) sandboxes = sandboxes.filter((s) => pids.some((pid) => s.pid === pid || s.processes.some((p) => p.pid === pid)));
  if (json) console.log(JSON.stringify(sandboxes, null, 2));
  else if (asTree) console.log(tree(sandboxes, columns));
  else console.log(table([columns, ...sandboxes.map((s) => columns.map((c) => COLUMNS[c].cell(s)))]));
  // like lsns -p, ps -p: nothing found for the pid asked about is a failure
  if (pids.length && sandboxes.length === 0) {
    console.error(`nsgroups ls: ${pids.join(', ')}: in no sandbox`);
    return 1;
  }
  return 0;
}
