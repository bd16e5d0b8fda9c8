// The id-mapping part of capabilities(): what an unprivileged caller needs to map ranges of ids
// into a user namespace (user_namespaces(7)): newuidmap and newgidmap, able to write another
// process's map (setuid root, or a file capability), and ranges for it in /etc/subuid and
// /etc/subgid (subuid(5)). Root writes the maps itself and needs none of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../native';
import type { Feature, HostCapabilities } from './capabilities';

// capability(7) numbers, and the layout of security.capability (VFS_CAP_REVISION_2/3: le32
// magic_etc, then le32 permitted and inheritable for caps 0-31)
const CAP_SETGID = 6;
const CAP_SETUID = 7;

function findTool(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** newuidmap/newgidmap: there, and able to write another process's map (setuid root or a file capability). */
function probeIdTool(name: 'newuidmap' | 'newgidmap', addon: boolean): Feature {
  const cap = name === 'newuidmap' ? CAP_SETUID : CAP_SETGID;
  const tool = findTool(name);
  const pkg = 'install it: apt install uidmap (Debian, Ubuntu), dnf install shadow-utils (Fedora), apk add shadow-uidmap (Alpine)';
  if (!tool) return { supported: false, reason: `${name} is not installed`, fix: pkg };
  const st = fs.statSync(tool);
  if ((st.mode & 0o4000) !== 0 && st.uid === 0) return { supported: true, reason: `${tool}, setuid root` };
  if (addon) {
    try {
      const v = native().lgetxattr(fs.realpathSync(tool), 'security.capability');
      if (v.length >= 12 && ((v.readUInt32LE(4) >>> cap) & 1) === 1) return { supported: true, reason: `${tool}, with file capabilities` };
    } catch {
      /* no capability xattr */
    }
  }
  return {
    supported: false,
    reason: `${tool} is neither setuid root nor given cap_set${name === 'newuidmap' ? 'uid' : 'gid'} as a file capability`,
    fix: `chmod u+s ${tool} (or setcap cap_set${name === 'newuidmap' ? 'uid' : 'gid'}+ep ${tool}), or reinstall: ${pkg}`,
  };
}

/** An entry for the caller in /etc/subuid or /etc/subgid (by name or by uid, as shadow-utils matches). */
function probeSubIds(file: '/etc/subuid' | '/etc/subgid'): Feature {
  const uid = process.getuid!();
  let name: string | null = null;
  try {
    name = os.userInfo().username;
  } catch {
    /* no passwd entry */
  }
  const who = name ? `${name} (uid ${uid})` : `uid ${uid}`;
  const fix = `usermod --add-sub${file.endsWith('uid') ? 'uids' : 'gids'} 100000-165535 ${name ?? uid}`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { supported: false, reason: `there is no ${file}`, fix };
  }
  const ranges = text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3 && (f[0] === name || f[0] === String(uid)))
    .map(([, start, count]) => `${start}-${Number(start) + Number(count) - 1}`);
  if (ranges.length === 0) return { supported: false, reason: `${file} grants no ids to ${who}`, fix };
  return { supported: true, reason: `${file}: ${ranges.join(', ')}` };
}

export function probeIdMapping(addon: boolean): HostCapabilities['idMapping'] {
  const found = {
    newuidmap: probeIdTool('newuidmap', addon),
    newgidmap: probeIdTool('newgidmap', addon),
    subuid: probeSubIds('/etc/subuid'),
    subgid: probeSubIds('/etc/subgid'),
  };
  if (process.geteuid!() !== 0) return found;
  // root writes uid_map and gid_map itself: none of these is needed, whatever their state
  const asRoot: Feature = { supported: true, reason: 'not needed as root' };
  return { newuidmap: asRoot, newgidmap: asRoot, subuid: asRoot, subgid: asRoot };
}
