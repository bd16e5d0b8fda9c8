// Cgroups: one API over cgroup v1, hybrid and v2 (API.md "Cgroup").
export { Cgroup } from './cgroup';
export type { CgroupCreateOptions, CgroupDeleteOptions, CgroupOpenOptions } from './cgroup';
export type { CgroupEvent, CgroupEventsOptions, CgroupEventType } from './events';
export type { CgroupLimits, CgroupLimitsInForce, IoDeviceLimit } from './limits';
export type { DeviceNumber, DeviceRule, DeviceRuleInForce, DeviceType } from './devices';
export type { CgroupStats, IoDeviceStats, Pressure, PressureFigures } from './stats';
export type { ByteSize } from '../util/units';
export type { Placement } from './backend';
// for capabilities() and `nsgroups doctor`
export { cgroupCapabilities } from './capabilities';
export type { CgroupCapabilities, CgroupFeature } from './capabilities';
export { detectCgroupLayout, parseCgroupLayout, parseProcCgroup } from './layout';
export type { CgroupControllerInfo, CgroupHierarchy, CgroupLayout, CgroupMode } from './layout';
export { describeBases, delegationHint } from './base';
export type { CgroupBaseReport } from './base';
