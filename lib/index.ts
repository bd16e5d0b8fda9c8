// nsgroups: run child processes in Linux sandboxes of your own design (API.md).
export { NsgroupsError } from './errors';
export type { NsgroupsErrorCode, NsgroupsErrorDetails } from './errors';
export { run, SandboxProcess, spawn } from './spawn/index';
export { capabilities } from './host/capabilities';
export type { Feature, HostCapabilities } from './host/capabilities';
export type {
  CgroupUsage,
  ExitInfo,
  ExitResult,
  InputFile,
  NamespaceType,
  NetworkOption,
  RunOptions,
  RunResult,
  RunStatus,
  SandboxProcessByStdio,
  SandboxProcessEvents,
  SandboxProcessWithoutNullStreams,
  SpawnOptions,
  SpawnOptionsWithoutStdio,
  SpawnOptionsWithStdioTuple,
  StdioEntry,
  StdioName,
  Usage,
  UserOption,
} from './spawn/index';
export type { IdMapEntry } from './spawn/idmap';
export type { JoinTarget } from './spawn/joins';
export type { MountSpec } from './spawn/mounts';
export type { TimeOffsets } from './spawn/options';
export { createPool, Pool } from './pool/index';
export type { PoolOptions, PoolRunOptions, PoolSpawnOptions, PoolStats } from './pool/index';
export { OverlayMount } from './overlay/index';
export type {
  OverlayChange,
  OverlayChangeKind,
  OverlayChangesOptions,
  OverlayCommitOptions,
  OverlayMountOptions,
  OverlayUnmountOptions,
  RedirectDirMode,
} from './overlay/index';
export { formatNamespaceTable, Namespace } from './namespace/index';
export type { NamespaceCreateOptions, NamespaceList, NamespaceListEntry, UnpinOptions } from './namespace/index';
export { NetworkLinks } from './net/index';
export type { AddressInfo, LinkChange, LinkInfo, VethOptions } from './net/index';
export { Sandbox, SandboxPool } from './sandbox/index';
export type {
  CommandStatuses,
  LeftoverProcess,
  SandboxDisposeOptions,
  SandboxNetwork,
  SandboxOptions,
  SandboxPoolCreateOptions,
  SandboxPoolOptions,
  SandboxPoolStats,
  SandboxReport,
  SandboxRootfs,
  SandboxRunOptions,
  SandboxSpawnOptions,
} from './sandbox/index';
export { describeSeccompFilter, seccompFilter, DEFAULT_DENY } from './seccomp/index';
export type { CompiledSeccomp, SeccompArch, SeccompOption, SeccompRules } from './seccomp/index';
export { Cgroup } from './cgroup/index';
export type {
  ByteSize,
  CgroupCreateOptions,
  CgroupDeleteOptions,
  CgroupEvent,
  CgroupEventsOptions,
  CgroupEventType,
  CgroupLimits,
  CgroupLimitsInForce,
  CgroupOpenOptions,
  CgroupStats,
  DeviceRule,
  DeviceRuleInForce,
  IoDeviceLimit,
  IoDeviceStats,
  Pressure,
  PressureFigures,
} from './cgroup/index';
// the types the options and results above are made of (named in the API reference, docs/api)
export type { PipeOr, StdioPipe } from './spawn/index';
export type { MountFlags } from './spawn/mounts';
export type { CapabilitiesOption, CapabilityName, KeyringOption, RlimitName, RlimitsOption, RlimitValue } from './spawn/privileges';
export type { ArgIndex, DenyEntry, SyscallRule } from './seccomp/profile';
export type { DeviceNumber, DeviceType } from './cgroup/devices';
export type { CgroupCapabilities, CgroupFeature } from './cgroup/capabilities';
export type { BaseChoice, CgroupBaseReport } from './cgroup/base';
export type { CgroupControllerInfo, CgroupHierarchy, CgroupMode } from './cgroup/layout';
export type { CgroupDriverName } from './cgroup/driver';
export type { CgroupDriverReport } from './cgroup/driver-report';
export type { ManagerKind } from './systemd/manager';
export type { LimitName } from './host/limits';
export type { UsernsSysctls } from './host/userns';
export type { Max } from './util/units';
