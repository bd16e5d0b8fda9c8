// Scratch directories for the overlay tests: layers built from a small spec, snapshots of a
// tree (what a reader of the merged view sees), and a cleanup that unmounts whatever is still
// mounted under the scratch root — so a failing test leaves nothing in /proc/self/mountinfo.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../lib';
import { native } from '../../lib/native';

/** A file's content, a symlink, or a directory. */
export type Spec = Record<string, string | { symlink: string } | { dir: true }>;

export function writeTree(root: string, spec: Spec): void {
  for (const [rel, what] of Object.entries(spec)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof what === 'string') fs.writeFileSync(p, what);
    else if ('symlink' in what) fs.symlinkSync(what.symlink, p);
    else fs.mkdirSync(p, { recursive: true });
  }
}

/** Mount points (decoded) in our mount namespace at or below `root`. */
export function mountsUnder(root: string): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'latin1').split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = Buffer.from(
      field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
      'latin1',
    ).toString();
    if (point === root || point.startsWith(root + '/')) out.push(point);
  }
  return out;
}

/**
 * The lines of /proc/self/mountinfo that mention `root` (as mount point or in an overlay's
 * options). Other tests and sessions mount things meanwhile: compare only what is ours.
 */
export function mountinfoLines(root: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(root))
    .sort();
}

export class Scratch {
  private constructor(readonly root: string) {}

  static create(tag: string): Scratch {
    return new Scratch(fs.mkdtempSync(path.join(os.tmpdir(), `nsgroups-ovl-${tag}-${process.pid}-`)));
  }

  /** A new directory under the scratch root, filled from `spec`. */
  dir(name: string, spec: Spec = {}): string {
    const p = path.join(this.root, name);
    fs.mkdirSync(p, { recursive: true });
    writeTree(p, spec);
    return p;
  }

  path(name: string): string {
    return path.join(this.root, name);
  }

  /** Unmounts (lazily, deepest first) what is still mounted here, then removes the tree. */
  async cleanup(): Promise<void> {
    for (const point of mountsUnder(this.root).reverse()) {
      await native()
        .umount2(point, native().fsConstants.MNT_DETACH)
        .catch(() => undefined);
    }
    const open = (d: string): void => {
      try {
        fs.chmodSync(d, 0o700);
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
      } catch {
        /* not ours or gone */
      }
    };
    open(this.root);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * What a reader sees in a tree: for each path, its type, permission bits, owner, and content
 * (file), target (symlink) or device number; `withTimes` adds the mtime in nanoseconds.
 */
export function snapshot(root: string, withTimes = false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(p, { bigint: true });
      const base = `${(st.mode & 0o7777n).toString(8)} ${st.uid}:${st.gid}${withTimes ? ` t=${st.mtimeNs}` : ''}`;
      if (st.isDirectory()) {
        out[r] = `dir ${base}`;
        walk(p, r);
      } else if (st.isSymbolicLink()) out[r] = `symlink ${base} -> ${fs.readlinkSync(p)}`;
      else if (st.isFile()) out[r] = `file ${base} ${JSON.stringify(fs.readFileSync(p, 'utf8'))}`;
      else if (st.isFIFO()) out[r] = `fifo ${base}`;
      else out[r] = `node ${base} rdev=${st.rdev}`;
    }
  };
  walk(root, '');
  return out;
}

/** True when a 0/0 character device (an overlayfs whiteout) is at `p`. */
export function isWhiteoutAt(p: string): boolean {
  try {
    const st = fs.lstatSync(p);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

export function xattr(p: string, name: string): string | null {
  try {
    return native().lgetxattr(p, name).toString();
  } catch {
    return null;
  }
}

/** `mount` of util-linux, for mounting inside a sandbox's own mount namespace. */
export const MOUNT_BIN = ['/usr/bin/mount', '/bin/mount'].find((p) => fs.existsSync(p)) ?? 'mount';

/**
 * Runs `script` (sh) in a new user and mount namespace after mounting an overlay with `data`
 * at `target` there: the host's mount table never sees it. Resolves with the script's stdout.
 */
export async function inSandboxOverlay(data: string, target: string, script: string): Promise<string> {
  const r = await run('sh', ['-c', `${MOUNT_BIN} -t overlay overlay -o "$OVERLAY_DATA" "$OVERLAY_TARGET" && cd "$OVERLAY_TARGET" && ${script}`], {
    namespaces: ['user', 'mount'],
    capabilities: 'all', // the script mounts the overlay itself and works in it as root (a sandbox's command has none otherwise)
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OVERLAY_DATA: data, OVERLAY_TARGET: target },
  });
  if (r.code !== 0) throw new Error(`sandbox script failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A listing of the current directory inside a sandbox: "path type mode content" lines, sorted. */
export const LIST_SCRIPT =
  'find . -mindepth 1 | sort | while read -r p; do if [ -L "$p" ]; then echo "$p link $(readlink "$p")"; ' +
  'elif [ -d "$p" ]; then echo "$p dir $(stat -c %a "$p")"; elif [ -p "$p" ]; then echo "$p fifo"; ' +
  'else echo "$p file $(stat -c %a "$p") $(cat "$p")"; fi; done';
