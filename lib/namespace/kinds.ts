// The eight namespace types, their names under /proc/PID/ns (namespaces(7)) and their
// CLONE_NEW* flags, which NS_GET_NSTYPE answers with (ioctl_ns(2)).
export const NAMESPACE_TYPES = ['user', 'pid', 'mount', 'net', 'uts', 'ipc', 'cgroup', 'time'] as const;
/** A namespace type (namespaces(7)); 'mount' is /proc/PID/ns/mnt. */
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

/** clone(2), unshare(2), setns(2) */
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

/** The file name under /proc/PID/ns: the kernel says 'mnt' where the API says 'mount'. */
export const PROC_NS_NAME: Record<NamespaceType, string> = {
  user: 'user',
  pid: 'pid',
  mount: 'mnt',
  net: 'net',
  uts: 'uts',
  ipc: 'ipc',
  cgroup: 'cgroup',
  time: 'time',
};

const byProcName = new Map<string, NamespaceType>(NAMESPACE_TYPES.map((t) => [PROC_NS_NAME[t], t]));
const byCloneFlag = new Map<number, NamespaceType>(NAMESPACE_TYPES.map((t) => [CLONE_NEW[t], t]));

/** 'mnt' → 'mount'; undefined for pid_for_children, time_for_children and unknown names. */
export function typeOfProcName(name: string): NamespaceType | undefined {
  return byProcName.get(name);
}

export function typeOfCloneFlag(flag: number): NamespaceType | undefined {
  return byCloneFlag.get(flag);
}

/** "net:[4026531840]" (the text of a /proc/PID/ns link, or an nsfs mount's root) → its parts. */
export function parseNsLink(text: string): { type: NamespaceType; inode: number } | undefined {
  const m = /^([a-z]+):\[(\d+)\]$/.exec(text);
  const type = m ? typeOfProcName(m[1]) : undefined;
  return type && m ? { type, inode: Number(m[2]) } : undefined;
}
