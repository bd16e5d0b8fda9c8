// The sandbox's filesystem, as spawn options for its holder: a root of read-only binds of the
// host's top-level entries (or of the system's only, or an image directory under a throw-away
// overlay), a /run of its own, a /tmp of its own kept in the sandbox's directory on the host, and
// the workspace as an overlay whose upper layer is the sandbox's. spawn mounts all of it inside
// the holder's mount namespace (lib/spawn/rootfs.ts): nothing reaches the host's mount table, and
// /proc (the sandbox's pid namespace), a minimal /dev and /sys come with it.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OverlayMount } from '../overlay/overlay-mount';
import type { MountSpec } from '../spawn/mounts';
import type { ResolvedSandbox } from './options';

/** Top-level names the sandbox has of its own, or leaves out in 'host' mode (removable and temporary mounts). */
const NOT_FROM_HOST = new Set(['proc', 'dev', 'sys', 'tmp', 'run', 'mnt', 'media']);
/** 'system' mode: the directories programs run from. */
const SYSTEM_DIRS = new Set(['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc', 'opt']);

export interface SandboxLayout {
  /** the sandbox's own directory on the host */
  dir: string;
  /** its /tmp, on the host */
  tmp: string;
  /** the workspace's overlay, or null without a workspace */
  workspace: OverlayMount | null;
  /** the holder's rootfs (a shared skeleton, or an image's overlay) and mounts */
  rootfs: string | OverlayMount;
  mounts: MountSpec[];
}

function mkdirs(dir: string, ...names: string[]): void {
  for (const n of names) fs.mkdirSync(path.join(dir, n), { mode: 0o700 });
}

/** The host's top-level entries the root shows, as mount points and symlinks in `root`. */
function hostEntries(root: string, only: Set<string> | null): void {
  for (const e of fs.readdirSync('/', { withFileTypes: true })) {
    if (NOT_FROM_HOST.has(e.name) || (only && !only.has(e.name))) continue;
    const at = path.join(root, e.name);
    const target = `/${e.name}`;
    if (e.isSymbolicLink()) {
      // /bin -> usr/bin and the like: the same link, resolved inside the sandbox
      fs.symlinkSync(fs.readlinkSync(target), at);
    } else if (e.isDirectory()) {
      fs.mkdirSync(at, { mode: 0o755 });
    } else if (e.isFile()) {
      fs.writeFileSync(at, '', { mode: 0o644 });
    }
  }
}

// The root skeleton of 'host' and 'system' mode (mount points and the host's top-level symlinks)
// is the same for every sandbox: made once per instance, in its directory, and shared (each
// holder binds it onto itself and makes its own copy read-only; the mount points a holder adds
// in it are empty directories).
const skeletons = new Map<string, string>();

function skeleton(home: string, kind: 'host' | 'system'): string {
  const root = path.join(home, `root-${kind}`);
  if (skeletons.get(root) !== undefined && fs.existsSync(root)) return root;
  const making = `${root}.${randomBytes(6).toString('hex')}`;
  fs.mkdirSync(making, { mode: 0o755 });
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'run']) fs.mkdirSync(path.join(making, d), { mode: 0o755 });
  hostEntries(making, kind === 'system' ? SYSTEM_DIRS : null);
  try {
    fs.renameSync(making, root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    fs.rmSync(making, { recursive: true, force: true }); // made meanwhile
  }
  skeletons.set(root, root);
  return root;
}

/** The bind mounts of the host's top-level entries the skeleton has mount points for. */
function hostBinds(root: string): MountSpec[] {
  const mounts: MountSpec[] = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (NOT_FROM_HOST.has(e.name) || e.isSymbolicLink()) continue;
    const target = `/${e.name}`;
    if (fs.existsSync(target)) mounts.push({ type: 'bind', source: target, target, readonly: true });
  }
  return mounts;
}

/**
 * Makes the sandbox's directories in `dir` (empty, ours, in the instance's directory `home`) and
 * returns how the holder assembles its world.
 */
export function layOut(o: ResolvedSandbox, home: string, dir: string): SandboxLayout {
  mkdirs(dir, 'tmp');
  const tmp = path.join(dir, 'tmp');
  fs.chmodSync(tmp, 0o1777);
  let rootfs: string | OverlayMount;
  const mounts: MountSpec[] = [];
  if (o.rootfs.kind === 'dir') {
    // an image: its mount points go to a throw-away upper layer, never into the image itself
    mkdirs(dir, 'root', 'root-upper', 'root-work');
    rootfs = new OverlayMount({
      lower: [o.rootfs.dir],
      upper: path.join(dir, 'root-upper'),
      work: path.join(dir, 'root-work'),
      target: path.join(dir, 'root'),
    });
  } else {
    rootfs = skeleton(home, o.rootfs.kind);
    mounts.push(...hostBinds(rootfs));
  }
  mounts.push({ type: 'tmpfs', target: '/run', mode: 0o755 });
  mounts.push({ type: 'bind', source: tmp, target: '/tmp' });
  let workspace: OverlayMount | null = null;
  if (o.workspace !== null) {
    mkdirs(dir, 'upper', 'work');
    workspace = new OverlayMount({ lower: [o.workspace], upper: path.join(dir, 'upper'), work: path.join(dir, 'work') });
    mounts.push({ type: 'overlay', overlay: workspace, target: o.workspace });
  }
  mounts.push(...o.mounts);
  return { dir, tmp, workspace, rootfs, mounts };
}
