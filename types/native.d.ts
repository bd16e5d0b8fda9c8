// The typed surface of the native binding (src-native/), so that lib/ never touches `any`.
// Mechanism only: every value here was validated and resolved by lib/ before it gets here.

// The spawn plan: the same keys and types as the schema in src-native/child.h (NSG_PLAN_FIELDS
// and friends), which the addon's reader enforces (every key, no other, each of its type) and
// test/plan.schema.test.ts compares with these declarations. Change both together.

export interface NativeStdio {
  /** 'report': the report pipe's write end (tests only: spawnResolved's reportFdForTests) */
  kind: 'pipe' | 'fd' | 'null' | 'report';
  /** 'fd': a descriptor of this process to install in the child; else -1 */
  fd: number;
  /** 'pipe': the child reads from it (stdin-like) rather than writes to it */
  childReads: boolean;
}

/** One filesystem step (enum nsg_op_kind in child.h says what each kind does with the fields). */
export interface NativeOp {
  kind: number;
  source: string | null;
  target: string | null;
  fstype: string | null;
  data: string | null;
  /** mount(2) MS_* flags */
  flags: number;
  /** MOUNT_ATTR_* for binds and setattr */
  attr: number;
  mode: number;
  recursive: boolean;
  /** target is a path inside the rootfs, resolved there (RESOLVE_IN_ROOT) */
  inRoot: boolean;
  /** refuse any symlink on the way to target */
  noSymlinks: boolean;
}

export interface NativeRlimit {
  resource: number;
  /** 2^53-1 (Number.MAX_SAFE_INTEGER) and up: RLIM_INFINITY */
  soft: number;
  hard: number;
}

export interface NativeJoin {
  fd: number;
  nstype: number;
}

export interface NativePlan {
  /** CLONE_NEW* flags for clone3 (the namespaces made at birth) */
  cloneFlags: number;
  /** an open cgroup v2 directory for CLONE_INTO_CGROUP, or -1 */
  cgroupFd: number;
  /** open cgroup.procs files the child writes itself into first (the v1 hierarchies; cgroup2 without CLONE_INTO_CGROUP) */
  procsFds: number[];
  /** clone with CLONE_VM (no page-table copy); only for plans that never change the kuid */
  useVm: boolean;
  stdio: NativeStdio[];
  joins: NativeJoin[];
  /** PR_SET_DUMPABLE 0 while joining (fork-style children only) */
  nondumpable: boolean;
  unshareUser: boolean;
  unshareFlags: number;
  /** fork the command's process into the pid namespace unshared or joined, as our child */
  forkIntoPidns: boolean;
  /** with forkIntoPidns: pid 1 is the init */
  init: boolean;
  unshareTime: boolean;
  unshareCgroupLate: boolean;
  /** take earlyUid/earlyGid at the earlyIds op (the caller's own id is unmapped) */
  earlyIds: boolean;
  earlyUid: number;
  earlyGid: number;
  ops: NativeOp[];
  cwd: string | null;
  candidates: string[];
  argv: string[];
  /** the command gets the caller's environment (the addon copies environ); envp is then empty */
  inheritEnv: boolean;
  envp: string[];
  setGroups: boolean;
  groups: number[];
  setIds: boolean;
  uid: number;
  gid: number;
  pdeathsig: number;
  newSession: boolean;
  /** join a new anonymous session keyring */
  newKeyring: boolean;
  rlimits: NativeRlimit[];
  /** set every capability set (and the init's) to keepCapabilities */
  dropCapabilities: boolean;
  /** bit N: capability N stays */
  keepCapabilities: number;
  noNewPrivs: boolean;
  /** struct sock_filter[] installed last before execve; empty: none */
  seccompFilter: Buffer;
  seccompFlags: number;
  /** a warm pool's sandbox: made now, it waits after the last privilege step for handOver();
   *  stdio, cwd, candidates, argv and envp are then empty here */
  park: boolean;
  /** with park: the filter is installed after the hand-over (it denies a call the hand-over makes) */
  seccompAtHandover: boolean;
}

/** The command given to a parked sandbox (ChildHandle.handOver). */
export interface NativeHandover {
  cwd: string | null;
  candidates: string[];
  argv: string[];
  inheritEnv: boolean;
  envp: string[];
  stdio: NativeStdio[];
}

/** What the addon's reader expects: [key, type] per field (types as child.h names them). */
export interface NativePlanSchema {
  plan: Array<[string, string]>;
  op: Array<[string, string]>;
  join: Array<[string, string]>;
  stdio: Array<[string, string]>;
  rlimit: Array<[string, string]>;
  handover: Array<[string, string]>;
}

export type ChildEvent =
  | [event: 'record', kind: number, step: number, err: number, index: number, value: number]
  | [event: 'eof']
  | [event: 'child_pid', pid: number]
  | [event: 'violation', reason: number]
  /** the exit, and the rusage of the reaped command's process and init (waitid's fifth argument) */
  | [
      event: 'exit',
      siCode: number,
      siStatus: number,
      userMicros: number,
      systemMicros: number,
      maxRssKiB: number,
      voluntaryContextSwitches: number,
      involuntaryContextSwitches: number,
    ];

export interface NativeChildHandle {
  start(callback: (...event: ChildEvent) => void): void;
  /** writes the go-ahead byte; 0 or -errno */
  release(): number;
  closeSync(): void;
  /** gives a parked sandbox its command; throws (errno ESRCH: not parked; E2BIG: too big) */
  handOver(command: NativeHandover): { stdio: number[] };
  /** pidfd_send_signal to the command; 0 or -errno */
  kill(signal: number): number;
  ref(): void;
  unref(): void;
}

export interface NativeSpawnResult {
  pid: number;
  handle: NativeChildHandle;
  /** the parent's end of each 'pipe' entry, -1 for the others */
  stdio: number[];
  /** the id maps given to spawn() could not be written: which file, and the errno (positive) */
  idMapsError?: { file: 'setgroups' | 'uid_map' | 'gid_map'; errno: number };
}

/** The maps of the user namespace made at clone, written by the addon right after it. */
export interface NativeIdMapWrites {
  uidMap: string;
  gidMap: string;
  /** 'deny' into /proc/PID/setgroups first (an unprivileged gid_map needs it) */
  denySetgroups: boolean;
}

export interface NativeStep {
  name: string;
  syscall: string;
}

export interface NativeConstants {
  ops: {
    mount: number;
    bind: number;
    mkdir: number;
    mkfile: number;
    symlink: number;
    setattr: number;
    root: number;
    pivotRoot: number;
    sethostname: number;
    loopbackUp: number;
    earlyIds: number;
    mask: number;
    readonly: number;
    dev: number;
  };
  reports: { error: number; request: number };
  requests: { idMaps: number; timeOffsets: number; parked: number };
  violations: { malformed: number; tooMany: number; outOfState: number; notOurChild: number };
}

/** A link as rtnetlink reports it (RTM_NEWLINK). */
export interface NativeLink {
  index: number;
  name: string;
  /** IFF_* flags */
  flags: number;
  mtu?: number;
  /** ifindex of the bridge it is attached to, 0 for none */
  master: number;
  /** ifindex of the peer (veth), 0 when not given */
  link: number;
  kind?: string;
  mac?: Uint8Array;
}

/** An address as rtnetlink reports it (RTM_NEWADDR). */
export interface NativeAddress {
  index: number;
  /** AF_INET (2) or AF_INET6 (10) */
  family: number;
  prefixLen: number;
  scope: number;
  address: Uint8Array;
}

/** Errors thrown by the binding carry the errno (negative) and the failing call. */
export interface NativeError extends Error {
  errno: number;
  syscall: string;
}

/** An eventfd polled on the environment's loop (cgroup v1 notifications, src-native/cgroup_eventfd.h). */
export interface NativeEventfdWatch {
  /** the eventfd, for cgroup.event_control; -1 once closed */
  readonly fd: number;
  close(): void;
  ref(): void;
  unref(): void;
}

/** Flag values from <sys/mount.h>, <sys/xattr.h> and <fcntl.h> (src-native/fs_natives.cc). */
export interface NativeFsConstants {
  MS_RDONLY: number;
  MS_NOSUID: number;
  MS_NODEV: number;
  MS_NOEXEC: number;
  MS_REMOUNT: number;
  MS_BIND: number;
  MS_REC: number;
  MS_PRIVATE: number;
  MS_SLAVE: number;
  MNT_FORCE: number;
  MNT_DETACH: number;
  UMOUNT_NOFOLLOW: number;
  XATTR_CREATE: number;
  XATTR_REPLACE: number;
  AT_SYMLINK_NOFOLLOW: number;
}

/** A program as BPF_OBJ_GET_INFO_BY_FD describes it (src-native/bpf.cc). */
export interface NativeBpfProgInfo {
  /** BPF_PROG_TYPE_* */
  type: number;
  id: number;
  name: string;
  /** the kernel's tag of the program, hex */
  tag: string;
  /** struct bpf_insn[] as the verifier left them; null when the kernel withholds them (kptr_restrict) */
  insns: Buffer | null;
}

export interface NativeBpfConstants {
  BPF_PROG_TYPE_CGROUP_DEVICE: number;
  BPF_CGROUP_DEVICE: number;
  BPF_F_ALLOW_MULTI: number;
  BPF_F_REPLACE: number;
}

export interface NativeBinding {
  /** idMaps: written right after clone, before the child's go-ahead (plan.cloneFlags has CLONE_NEWUSER) */
  spawn(plan: NativePlan, idMaps?: NativeIdMapWrites | null): NativeSpawnResult;
  /** SIGKILL and reap every live child of this environment (process 'exit') */
  terminateAll(): void;
  /** the C library's message for a (positive) errno */
  strerror(errno: number): string;
  /** clone3(NULL, 0): -EINVAL when clone3 exists, -ENOSYS (or a seccomp errno) when refused */
  probeClone3(): number;
  /** Landlock's ABI version (> 0), or -errno (ENOSYS, EOPNOTSUPP) */
  probeLandlock(): number;
  /** callback(count) on each wakeup, count = the eventfd counter read */
  EventfdWatch: new (callback: (count: number) => void) => NativeEventfdWatch;
  steps: NativeStep[];
  constants: NativeConstants;
  planSchema: NativePlanSchema;
  // src-native/fs_natives.cc: one system call each; failures throw (or reject with) a NativeError.
  /** mount(2); null passes NULL. Runs on the thread pool. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<void>;
  /** umount2(2). Runs on the thread pool (an unmount may write back dirty data). */
  umount2(target: string, flags: number): Promise<void>;
  /** syncfs(2) of the filesystem holding fd. Runs on the thread pool. */
  syncfs(fd: number): Promise<void>;
  lgetxattr(path: string, name: string): Buffer;
  llistxattr(path: string): string[];
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  /** mknod(2); mode includes the file type bits (S_IFCHR…) */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** utimensat(AT_FDCWD, path, [atime, mtime], flags) with nanoseconds since the epoch */
  utimensat(path: string, atimeNs: bigint, mtimeNs: bigint, flags: number): void;
  fsConstants: NativeFsConstants;

  // nsfs.cc: ioctl_ns(2) on a namespace fd; fds returned are new and close-on-exec
  /** NS_GET_NSTYPE: the CLONE_NEW* flag */
  nsGetType(fd: number): number;
  /** NS_GET_USERNS: the owning user namespace */
  nsGetUserns(fd: number): number;
  /** NS_GET_PARENT: the parent pid or user namespace */
  nsGetParent(fd: number): number;
  /** NS_GET_OWNER_UID: the creator's uid, for a user namespace */
  nsGetOwnerUid(fd: number): number;
  /** bind mount of a namespace file onto an existing file */
  nsPin(source: string, target: string): void;
  /** umount2(MNT_DETACH | UMOUNT_NOFOLLOW) */
  nsUnpin(target: string): void;

  // netlink.cc: rtnetlink over a NETLINK_ROUTE socket
  /** a socket in the network namespace of nsFd (-1: the caller's); the caller closes it */
  netlinkOpen(nsFd: number): number;
  netlinkNewLink(sock: number, spec: { name: string; kind: string; peer?: string; peerNsFd?: number }): void;
  netlinkSetLink(sock: number, index: number, change: { up?: boolean; mtu?: number; master?: number; nsFd?: number }): void;
  netlinkDelLink(sock: number, index: number): void;
  netlinkGetLinks(sock: number): NativeLink[];
  netlinkAddr(sock: number, add: boolean, spec: { index: number; family: number; address: Uint8Array; prefixLen: number }): void;
  netlinkGetAddrs(sock: number): NativeAddress[];

  // bpf.cc: bpf(2) for cgroup device programs; fds returned are close-on-exec, the caller closes them
  /** BPF_PROG_LOAD of struct bpf_insn[]; a refusal's message carries the verifier's log */
  bpfProgLoad(type: number, insns: Buffer, license: string, name: string): number;
  /** BPF_PROG_ATTACH; replaceFd -1 for none (it goes with BPF_F_REPLACE) */
  bpfProgAttach(targetFd: number, progFd: number, attachType: number, flags: number, replaceFd: number): void;
  bpfProgDetach(targetFd: number, progFd: number, attachType: number): void;
  /** BPF_PROG_QUERY: the programs attached to the cgroup itself */
  bpfProgQuery(targetFd: number, attachType: number): { attachFlags: number; ids: number[] };
  bpfProgGetFdById(id: number): number;
  bpfProgInfo(fd: number): NativeBpfProgInfo;
  bpfConstants: NativeBpfConstants;
}
