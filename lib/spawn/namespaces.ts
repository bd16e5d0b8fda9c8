// The eight namespace types and their CLONE_NEW* values (clone(2), setns(2)).
export const NAMESPACE_TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export const CLONE_NEW: Record<NamespaceType, number> = {
  mount: 0x00020000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  cgroup: 0x02000000,
  time: 0x00000080,
};

/** The name of the namespace's file under /proc/PID/ns ('mnt' for mount). */
export function procNsName(type: NamespaceType): string {
  return type === 'mount' ? 'mnt' : type;
}
