// For the Sandbox tests: the kernel's view of a sandbox (its processes by pid namespace, its
// mounts, its cgroup directories) and snapshots of a workspace on the host, to compare.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Host pids of the processes whose pid namespace reads `link` ("pid:[inode]"). */
export function pidsInNamespace(link: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/ns/pid`) === link) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every entry under `dir`: relative path → type, mode, owner, size, mtime and a hash of the content. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p, { bigint: true });
      const content = e.isFile() ? createHash('sha1').update(fs.readFileSync(p)).digest('hex') : e.isSymbolicLink() ? fs.readlinkSync(p) : '';
      out[path.relative(dir, p)] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs} ${content}`;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** A workspace with a few files, in a fresh directory under the system's tmp. */
export function makeWorkspace(tag: string): string {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-ws-${tag}-`));
  fs.chmodSync(ws, 0o755);
  fs.mkdirSync(path.join(ws, 'src'));
  fs.writeFileSync(path.join(ws, 'src', 'main.c'), 'int main(void) { return 0; }\n');
  fs.writeFileSync(path.join(ws, 'README'), 'the original\n');
  fs.writeFileSync(path.join(ws, 'obsolete'), 'to be deleted\n');
  return fs.realpathSync(ws);
}

/** The lines of /proc/self/mountinfo whose mount point or root mentions `text`. */
export function hostMountsMentioning(text: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));
}

/** The directories of a Cgroup's path (one on v2, one per hierarchy on v1). */
export function cgroupDirs(p: string | Record<string, string>): string[] {
  return typeof p === 'string' ? [p] : [...new Set(Object.values(p))];
}

/** Waits (polling) until `check` holds; throws after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
