// jest, without the test environment: `const sb = useSandbox(options)` at the top of a file or a
// describe block makes a fresh Sandbox before each test (beforeEach) and disposes of it after
// (afterEach); `sb.run(...)` and the others reach the current test's, `sb.current` is the
// Sandbox itself. jest tells an afterEach hook nothing of the test's outcome: keep: 'on-failure'
// works when the file also runs in 'nsgroups/jest-environment', which tells (else only keep:
// true keeps). For report lines and the table, use the environment.
import type { SandboxDisposeOptions, SandboxOptions, SandboxRunOptions, SandboxSpawnOptions } from '../sandbox/options';
import { SandboxPool } from '../sandbox/pool';
import { Sandbox } from '../sandbox/sandbox';
import { unnamed } from './report';
import { sandboxFor, type SandboxSource } from './source';

/** What 'nsgroups/jest-environment' shares with this helper through the test's global. */
export const JEST_STATE = Symbol.for('nsgroups.jest.state');
export interface JestSharedState {
  /** whether the running test has failed so far (a hook or its body threw) */
  failed: boolean;
}

interface JestGlobals {
  beforeEach(fn: () => Promise<void>, timeout?: number): void;
  afterEach(fn: () => Promise<void>, timeout?: number): void;
  expect?: { getState(): { currentTestName?: string } };
  [JEST_STATE]?: JestSharedState;
}

export interface SandboxHandle {
  /** the running test's Sandbox (throws outside a test) */
  readonly current: Sandbox;
  run: Sandbox['run'];
  spawn: Sandbox['spawn'];
  path: Sandbox['path'];
  changes: Sandbox['changes'];
  report: Sandbox['report'];
}

/** `options` may be a pool (Sandbox.pool()): each test then gets a sandbox made ahead of it. */
export function useSandbox(options?: SandboxSource): SandboxHandle {
  const g = globalThis as unknown as JestGlobals;
  if (typeof g.beforeEach !== 'function' || typeof g.afterEach !== 'function') {
    throw new TypeError("useSandbox() needs jest's beforeEach/afterEach globals: call it in a test file (injectGlobals on)");
  }
  let current: Sandbox | null = null;
  g.beforeEach(async () => {
    current = await sandboxFor(options, unnamed(g.expect?.getState().currentTestName));
  });
  g.afterEach(async () => {
    const sb = current;
    current = null;
    const dispose: SandboxDisposeOptions = { failed: g[JEST_STATE]?.failed === true };
    await sb?.dispose(dispose);
  });
  const handle: SandboxHandle = {
    get current(): Sandbox {
      if (!current) throw new Error('useSandbox(): no test is running (the sandbox exists from beforeEach to afterEach)');
      return current;
    },
    run: ((command: string, args?: readonly string[], o?: SandboxRunOptions) => handle.current.run(command, args, o)) as Sandbox['run'],
    spawn: (command: string, args?: readonly string[], o?: SandboxSpawnOptions) => handle.current.spawn(command, args, o),
    path: (p: string) => handle.current.path(p),
    changes: () => handle.current.changes(),
    report: () => handle.current.report(),
  };
  return handle;
}

export { Sandbox, SandboxPool };
export type { SandboxOptions, SandboxSource };
