// Namespace.list() as text, in lsns(8)'s default columns (NS TYPE NPROCS PID USER COMMAND),
// for `nsgroups ls`. A namespace held only by a pin has no process: its COMMAND names the pin.
import type { NamespaceList, NamespaceListEntry } from './namespace';

interface Column {
  title: string;
  right: boolean;
  value(e: NamespaceListEntry): string;
}

const COLUMNS: Column[] = [
  { title: 'NS', right: true, value: (e) => String(e.inode) },
  { title: 'TYPE', right: false, value: (e) => e.type },
  { title: 'NPROCS', right: true, value: (e) => String(e.pids.length) },
  { title: 'PID', right: true, value: (e) => (e.pid === null ? '-' : String(e.pid)) },
  { title: 'USER', right: false, value: (e) => e.user ?? '-' },
  { title: 'COMMAND', right: false, value: (e) => e.command ?? (e.pins.length ? `(pinned at ${e.pins.join(', ')})` : '-') },
];

/**
 * The table as lines of text (no trailing newline), with a note on what was not visible: the
 * columns of lsns (NS, TYPE, NPROCS, PID, USER, COMMAND).
 * @example
 * console.log(formatNamespaceTable(await Namespace.list()));
 */
export function formatNamespaceTable(list: NamespaceList | NamespaceListEntry[]): string {
  const rows = [COLUMNS.map((c) => c.title), ...list.map((e) => COLUMNS.map((c) => c.value(e).replace(/[\n\t]/g, ' ')))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => (i === COLUMNS.length - 1 ? cell : COLUMNS[i].right ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join(' ')
      .trimEnd(),
  );
  const unreadable = 'unreadable' in list ? list.unreadable : [];
  if (unreadable.length > 0) {
    const shown = unreadable.slice(0, 10).join(', ') + (unreadable.length > 10 ? ', …' : '');
    lines.push(`(${unreadable.length} process${unreadable.length === 1 ? '' : 'es'} not readable by this user: ${shown})`);
  }
  return lines.join('\n');
}
