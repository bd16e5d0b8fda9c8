// vitest: `test.extend({ sandbox: sandboxFixture(options) })` gives each test that asks for it
// (`async ({ sandbox }) => …`) a fresh Sandbox, disposed of after the test, told whether it
// failed. With NSGROUPS_REPORT set, each test appends its report line and each test process
// prints a table of its tests when it exits. No import of vitest here: the fixture is a plain
// function, whose first parameter vitest reads as written (object destructuring).
import type { SandboxOptions } from '../sandbox/options';
import { SandboxPool } from '../sandbox/pool';
import { Sandbox } from '../sandbox/sandbox';
import { finishTest, linesPrintedAtExit, reportFile, unnamed } from './report';
import { sandboxFor, type SandboxSource } from './source';

/** What the fixture needs of vitest's test context. */
export interface VitestTaskLike {
  name: string;
  suite?: { name: string; suite?: VitestTaskLike['suite'] } | null;
  file?: { filepath?: string } | null;
  result?: { state?: string } | null;
}

function fullName(task: VitestTaskLike): string {
  const names = [task.name];
  for (let s = task.suite; s; s = s.suite) if (s.name) names.unshift(s.name);
  return names.join(' > ');
}

export type SandboxFixture = (context: { task: VitestTaskLike }, use: (sandbox: Sandbox) => Promise<void>) => Promise<void>;

/** `options` may be a pool (Sandbox.pool()): each test then gets a sandbox made ahead of it. */
export function sandboxFixture(options?: SandboxSource): SandboxFixture {
  return async ({ task }, use) => {
    const test = unnamed(fullName(task));
    const sb = await sandboxFor(options, test);
    try {
      await use(sb);
    } finally {
      const file = reportFile();
      await finishTest(sb, { test, file: task.file?.filepath ?? null, failed: task.result?.state === 'fail' }, file, file ? linesPrintedAtExit() : undefined);
    }
  };
}

export { Sandbox, SandboxPool };
export type { SandboxOptions, SandboxSource };
