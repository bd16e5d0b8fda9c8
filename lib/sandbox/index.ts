export { Sandbox } from './sandbox';
export type { SandboxDisposeOptions, SandboxNetwork, SandboxOptions, SandboxRootfs, SandboxRunOptions, SandboxSpawnOptions } from './options';
export type { CommandStatuses, LeftoverProcess, SandboxReport } from './report';
export { SandboxPool } from './pool';
export type { SandboxPoolCreateOptions, SandboxPoolOptions, SandboxPoolStats } from './pool';
