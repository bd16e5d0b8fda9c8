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
export { formatNamespaceTable, Namespace } from './namespace/index';
export type { NamespaceCreateOptions, NamespaceList, NamespaceListEntry, UnpinOptions } from './namespace/index';
export { NetworkLinks } from './net/index';
export type { AddressInfo, LinkChange, LinkInfo, VethOptions } from './net/index';
