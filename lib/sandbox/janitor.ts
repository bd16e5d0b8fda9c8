// What the sandboxes of this process leave on disk if it dies without disposing of them: their
// directories and their cgroups. Their processes need no help — every one dies with this process
// (PR_SET_PDEATHSIG on the holder and its init, whose death ends the pid namespace) — and their
// mounts exist only in the holders' mount namespaces, which end with them. The directories and
// cgroups are then removed by the janitor: a small shell started once per Node instance (process
// or worker thread), in a session of its own, that reads the paths to clean from a pipe and does
// the cleaning at EOF, when this instance is gone, however it went. Everything a sandbox makes
// lives under one directory per instance (nsgroups-sandboxes-PID-THREAD-XXXXXX, with an `owner`
// file for `nsgroups gc`) and one cgroup per instance (sandboxes-PID-THREAD under the base), so
// the janitor is told two kinds of lines: "d DIR" and "c CGROUP-DIR".
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { ownerRecord } from '../host/owner';

// At EOF: thaw what a dispose interrupted mid-freeze (a frozen process cannot die), wait for the
// sandboxes' processes to be gone (their cgroups empty: rmdir succeeds), then remove the trees.
// Bounded: 20 s at most per cgroup.
const SCRIPT = `
dirs= cgs=
while IFS= read -r line; do
  case $line in
    'd '*) dirs="$dirs\${line#d }
" ;;
    'c '*) cgs="$cgs\${line#c }
" ;;
  esac
done
IFS='
'
for c in $cgs; do
  n=0
  while [ -d "$c" ] && [ $n -lt 200 ]; do
    for f in $(find "$c" -name freezer.state 2>/dev/null); do echo THAWED > "$f"; done 2>/dev/null
    for f in $(find "$c" -name cgroup.freeze 2>/dev/null); do echo 0 > "$f"; done 2>/dev/null
    find "$c" -depth -type d -exec rmdir {} \\; 2>/dev/null
    [ -d "$c" ] && sleep 0.1
    n=$((n + 1))
  done
done
for d in $dirs; do chmod -R u+rwx "$d" 2>/dev/null; rm -rf "$d"; done
`;

let janitor: ChildProcess | null = null;
const told = new Set<string>();

function tell(line: string): void {
  if (told.has(line)) return;
  if (!janitor) {
    janitor = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    janitor.on('error', () => {}); // no /bin/sh: nothing cleans up after a crash (nsgroups gc still does)
    janitor.stdin!.on('error', () => {});
    janitor.unref();
    (janitor.stdin as unknown as { unref?: () => void }).unref?.();
  }
  told.add(line);
  janitor.stdin!.write(`${line}\n`);
}

const homes = new Map<string, string>();

/** This instance's directory for sandboxes under `scratch` (made once, told to the janitor). */
export function sandboxHome(scratch: string): string {
  let home = homes.get(scratch);
  if (home && fs.existsSync(home)) return home;
  home = fs.mkdtempSync(path.join(scratch, `nsgroups-sandboxes-${process.pid}-${threadId}-`));
  tell(`d ${home}`);
  fs.writeFileSync(path.join(home, 'owner'), `${ownerRecord()}\n`);
  homes.set(scratch, home);
  return home;
}

/** The cgroup every sandbox cgroup of this instance goes under, relative to the base. */
export function cgroupHome(): string {
  return `sandboxes-${process.pid}-${threadId}`;
}

/** Tells the janitor the directories of this instance's cgroup home, from one sandbox cgroup's paths. */
export function cleanCgroupHomeAtExit(paths: string | Record<string, string>): void {
  for (const dir of typeof paths === 'string' ? [paths] : Object.values(paths)) tell(`c ${path.dirname(dir)}`);
}
