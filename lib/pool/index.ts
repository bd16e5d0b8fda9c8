export { createPool, Pool } from './pool';
export type { PoolOptions, PoolRunOptions, PoolSpawnOptions, PoolStats } from './pool';
