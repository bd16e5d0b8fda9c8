// `nsgroups doctor`: capabilities(), readably, with the fix for each missing feature.
// `--json` prints the object itself.
import { capabilities, type Feature, type HostCapabilities } from '../host/capabilities';

const FIXES: Record<string, string> = {
  'overlay.available': 'load the module (modprobe overlay) or use a kernel with CONFIG_OVERLAY_FS',
  'overlay.inUserNamespace': 'needs Linux 5.11+ (userxattr); rootless sandboxes then cannot use an overlay rootfs',
  clone3: 'needs Linux 5.3+, and no seccomp filter that refuses clone3 (Docker\'s default profile does)',
  pidfd: 'needs Linux 5.3+',
  timeNamespaces: 'needs Linux 5.6+ with CONFIG_TIME_NS',
  mountSetattr: 'needs Linux 5.12+; read-only recursive binds are unavailable without it',
};

function line(name: string, f: Feature, key: string): string {
  const mark = f.supported ? 'yes' : 'NO ';
  let text = `  ${mark}  ${name}`;
  if (!f.supported) {
    if (f.reason) text += `\n         why: ${f.reason}`;
    if (FIXES[key]) text += `\n         fix: ${FIXES[key]}`;
  } else if (f.reason) {
    text += `  (${f.reason})`;
  }
  return text;
}

export function formatCapabilities(c: HostCapabilities): string {
  const out: string[] = [];
  out.push(`kernel ${c.kernel.release}`);
  out.push('user namespaces:');
  out.push(line('for this caller (probed)', c.userNamespaces.caller, 'userNamespaces.caller'));
  out.push(line('for unprivileged users', c.userNamespaces.unprivileged, 'userNamespaces.unprivileged'));
  out.push('filesystems:');
  out.push(line('overlayfs', c.overlay.available, 'overlay.available'));
  out.push(line('overlayfs inside a user namespace (userxattr)', c.overlay.inUserNamespace, 'overlay.inUserNamespace'));
  out.push(line('recursive read-only binds (mount_setattr)', c.mountSetattr, 'mountSetattr'));
  out.push('processes:');
  out.push(line('clone3', c.clone3, 'clone3'));
  out.push(line('pidfd', c.pidfd, 'pidfd'));
  out.push(line('time namespaces', c.timeNamespaces, 'timeNamespaces'));
  return out.join('\n');
}

export async function doctor(args: string[]): Promise<number> {
  const c = await capabilities();
  if (args.includes('--json')) console.log(JSON.stringify(c, null, 2));
  else console.log(formatCapabilities(c));
  return 0;
}
