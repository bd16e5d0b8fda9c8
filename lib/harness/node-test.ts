// node:test: `const sb = await sandbox(t, options)` gives the test a Sandbox and registers its
// disposal with t.after(), told whether the test passed (t.passed), so that keep: 'on-failure'
// keeps a failing test's files. With NSGROUPS_REPORT set, each test appends its report line and
// the process prints a table of its tests when it exits (under `node --test`, one per file).
// Given a SandboxPool instead of options, each test takes a sandbox the pool made ahead.
import { SandboxPool } from '../sandbox/pool';
import { Sandbox } from '../sandbox/sandbox';
import type { SandboxOptions } from '../sandbox/options';
import { finishTest, linesPrintedAtExit, reportFile, unnamed } from './report';
import { sandboxFor, type SandboxSource } from './source';

/** What the helper needs of node:test's TestContext (Node 20.13+ has passed; 22 has filePath). */
export interface NodeTestContext {
  name: string;
  fullName?: string;
  passed?: boolean;
  filePath?: string;
  after(fn: () => unknown): void;
}

/** `options` may be a pool (Sandbox.pool()): the test then gets a sandbox made ahead of it. */
export async function sandbox(t: NodeTestContext, options?: SandboxSource): Promise<Sandbox> {
  const test = unnamed(t.fullName ?? t.name);
  const sb = await sandboxFor(options, test);
  t.after(async () => {
    const file = reportFile();
    await finishTest(sb, { test, file: t.filePath ?? process.argv[1] ?? null, failed: t.passed === false }, file, file ? linesPrintedAtExit() : undefined);
  });
  return sb;
}

export { Sandbox, SandboxPool };
export type { SandboxOptions, SandboxSource };
