// net_cls and net_prio (Documentation/admin-guide/cgroup-v1/net_cls.rst, net_prio.rst): tags on
// the sockets of a cgroup's processes, for tc and netfilter to match. cgroup v1 only — cgroup v2
// has no such controllers (its sockets carry the cgroup itself, matched by path).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NsgroupsError, unsupported } from '../errors';
import { isErrno, readText, writeValue } from './fsops';
import type { CgroupMode } from './layout';

export type NetController = 'net_cls' | 'net_prio';

const OPTION: Record<NetController, string> = { net_cls: 'netCls', net_prio: 'netPrio' };

const V2_INSTEAD: Record<NetController, string> = {
  net_cls:
    'match the cgroup itself instead: nftables `socket cgroupv2 level 2 "nsgroups/NAME"` (nft(8)), ' +
    'or a BPF cgroup/skb program; to classify for tc, set the mark there (`meta mark set`) and filter on it (tc fw)',
  net_prio:
    'set the priority by cgroup with nftables (`socket cgroupv2 level 2 "nsgroups/NAME" meta priority set 1:5`, nft(8)), ' +
    'or with SO_PRIORITY on the sockets',
};

function inKernel(controller: NetController): boolean {
  try {
    return fs
      .readFileSync('/proc/cgroups', 'utf8')
      .split('\n')
      .some((l) => l.split('\t')[0] === controller);
  } catch {
    return true; // cannot tell: do not claim it is missing
  }
}

/** ERR_UNSUPPORTED for netCls / netPrio where the host has no v1 hierarchy with the controller. */
export function netUnsupported(controller: NetController, mode: CgroupMode): NsgroupsError {
  const option = OPTION[controller];
  if (mode === 'v2') {
    return unsupported(
      `${option} needs the ${controller} controller, and cgroup v2 has no such controller (it exists in cgroup v1 only): ${V2_INSTEAD[controller]}`,
    );
  }
  if (!inKernel(controller)) {
    const config = controller === 'net_cls' ? 'CONFIG_CGROUP_NET_CLASSID' : 'CONFIG_CGROUP_NET_PRIO';
    return unsupported(`${option} needs the ${controller} controller, which this kernel lacks (${config}; /proc/cgroups does not list it)`);
  }
  return unsupported(
    `${option} needs the ${controller} controller, which is not mounted as a cgroup v1 hierarchy on this ${mode} host: ` +
      'mount it (`mkdir /sys/fs/cgroup/net_cls,net_prio && mount -t cgroup -o net_cls,net_prio net_cls /sys/fs/cgroup/net_cls,net_prio`), ' +
      `or, with cgroup v2, ${V2_INSTEAD[controller]}`,
  );
}

export function applyNetCls(dir: string, classid: number): void {
  writeValue(path.join(dir, 'net_cls.classid'), String(classid), `netCls.classid 0x${classid.toString(16)}`);
}

/** One interface per write (net/core/netprio_cgroup.c write_priomap), looked up in the caller's network namespace. */
export function applyNetPrio(dir: string, ifpriomap: Array<[string, number]>): void {
  const file = path.join(dir, 'net_prio.ifpriomap');
  for (const [name, prio] of ifpriomap) {
    try {
      fs.writeFileSync(file, `${name} ${prio}`);
    } catch (err) {
      if (isErrno(err, 'ENODEV')) {
        throw new NsgroupsError(
          'ERR_NOT_FOUND',
          `netPrio.ifpriomap: there is no interface '${name}' in this process's network namespace (the kernel looks the name up there; ip link lists them)`,
          { errno: -19, syscall: 'write', path: file, cause: err },
        );
      }
      writeValue(file, `${name} ${prio}`, `netPrio.ifpriomap['${name}'] = ${prio}`); // the same write, for its error
    }
  }
}

export function readNetCls(dir: string): { classid: number } {
  return { classid: Number(readText(path.join(dir, 'net_cls.classid')).trim()) };
}

export function readNetPrio(dir: string): { ifpriomap: Record<string, number> } {
  const out: Record<string, number> = {};
  for (const line of readText(path.join(dir, 'net_prio.ifpriomap')).split('\n')) {
    const [name, prio] = line.trim().split(/\s+/);
    if (name && prio !== undefined) out[name] = Number(prio);
  }
  return { ifpriomap: out };
}
