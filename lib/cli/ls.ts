// `nsgroups ls`: the host's namespaces (like lsns), and nsgroups' own cgroups as a tree with
// their member processes. `--json` prints both as data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeBases, detectCgroupLayout } from '../cgroup/index';
import { formatNamespaceTable, Namespace } from '../namespace/index';

export interface CgroupNode {
  /** the path below the base, e.g. "jobs/build-42" */
  name: string;
  /** the hierarchies it exists in (mount points) */
  hierarchies: string[];
  /** member processes (union over the hierarchies) with their command */
  procs: Array<{ pid: number; command: string | null }>;
}

const CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'io', 'freezer'];

function command(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Every cgroup under nsgroups' writable bases, parents before children. */
export async function listCgroups(): Promise<CgroupNode[]> {
  const layout = await detectCgroupLayout();
  const bases = describeBases(layout, CONTROLLERS).filter((b) => b.path && fs.existsSync(b.path));
  const nodes = new Map<string, CgroupNode>();
  const walk = (base: string, dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      const name = path.relative(base, full);
      const node = nodes.get(name) ?? { name, hierarchies: [], procs: [] };
      node.hierarchies.push(base);
      try {
        for (const pid of fs.readFileSync(path.join(full, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
          if (!node.procs.some((p) => p.pid === pid)) node.procs.push({ pid, command: command(pid) });
        }
      } catch {
        /* removed meanwhile */
      }
      nodes.set(name, node);
      walk(base, full);
    }
  };
  for (const b of bases) walk(b.path!, b.path!);
  return [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function formatCgroupTree(nodes: CgroupNode[], bases: string[]): string {
  const lines = [`cgroups of nsgroups (bases: ${bases.join(', ') || 'none writable'})`];
  if (nodes.length === 0) lines.push('  (none)');
  for (const n of nodes) {
    const depth = n.name.split('/').length;
    const procs = n.procs.map((p) => `${p.pid}${p.command ? ` (${p.command})` : ''}`).join(', ');
    lines.push(`${'  '.repeat(depth)}${path.basename(n.name)}/${procs ? `  ${procs}` : ''}`);
  }
  return lines.join('\n');
}

export async function ls(args: string[]): Promise<number> {
  const [namespaces, cgroups, layout] = await Promise.all([Namespace.list(), listCgroups(), detectCgroupLayout()]);
  const bases = describeBases(layout, CONTROLLERS)
    .map((b) => b.path)
    .filter((p): p is string => p !== null);
  if (args.includes('--json')) {
    console.log(JSON.stringify({ namespaces: [...namespaces], unreadable: namespaces.unreadable, cgroups }, null, 2));
    return 0;
  }
  console.log(formatNamespaceTable(namespaces));
  console.log('');
  console.log(formatCgroupTree(cgroups, bases));
  for (const ns of namespaces) (ns as { close?: () => void }).close?.();
  return 0;
}
