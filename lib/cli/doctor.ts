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
  'cgroup.kill': 'needs Linux 5.14+ (kill() then freezes, signals and thaws instead)',
  freeze: 'needs Linux 5.2+ (cgroup.freeze) or the v1 freezer controller',
  psi: 'boot with psi=1 (CONFIG_PSI)',
  cloneIntoCgroup: 'needs Linux 5.7+ and a cgroup2 hierarchy; without it spawn moves the child before it execs',
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
  out.push(`cgroups: ${c.cgroup.mode}` + (c.cgroup.unified ? ` (cgroup2 at ${c.cgroup.unified})` : ''));
  const byMount = new Map<string, string[]>();
  for (const [name, info] of Object.entries(c.cgroup.controllers)) {
    const key = `v${info.version} ${info.mountPoint}`;
    byMount.set(key, [...(byMount.get(key) ?? []), name]);
  }
  for (const [where, names] of byMount) out.push(`  ${names.sort().join(',').padEnd(24)} ${where}`);
  for (const b of c.cgroup.base) {
    out.push(`  base for new cgroups (${b.hierarchy}): ${b.path ?? 'none writable by this caller'}${b.source ? ` (${b.source})` : ''}`);
  }
  out.push(line('cgroup.kill', c.cgroup.kill, 'cgroup.kill'));
  out.push(line('freeze', c.cgroup.freeze, 'freeze'));
  out.push(line('pressure stall information (PSI)', c.cgroup.psi, 'psi'));
  out.push(line('device policies (devices)', c.cgroup.devices, 'devices'));
  out.push(line('net_cls (netCls)', c.cgroup.netCls, 'netCls'));
  out.push(line('net_prio (netPrio)', c.cgroup.netPrio, 'netPrio'));
  out.push(line('born in the cgroup (CLONE_INTO_CGROUP)', c.cloneIntoCgroup, 'cloneIntoCgroup'));
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
