// nsgroups: run child processes in Linux sandboxes of your own design (API.md).
export { NsgroupsError } from './errors';
export type { NsgroupsErrorCode, NsgroupsErrorDetails } from './errors';
export { run, SandboxProcess, spawn } from './spawn/index';
export type {
  ExitInfo,
  NamespaceType,
  NetworkOption,
  RunOptions,
  RunResult,
  SpawnOptions,
  StdioEntry,
  StdioName,
  UserOption,
} from './spawn/index';
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
  IoDeviceLimit,
  IoDeviceStats,
  Pressure,
  PressureFigures,
} from './cgroup/index';
