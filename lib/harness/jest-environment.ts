// testEnvironment: 'nsgroups/jest-environment' — jest's node environment, plus a fresh Sandbox
// for every test as `globalThis.sandbox` (from the test's start, before its beforeEach hooks, to
// its end, after its afterEach hooks), disposed of and told whether the test failed. Options,
// in jest's config: testEnvironmentOptions: { nsgroups: { ...SandboxOptions, report?: FILE } };
// with a report file (or NSGROUPS_REPORT) each test appends its line, and the environment prints
// a table of its file's tests at its teardown. A sandbox that cannot be made fails its test
// with the reason (the test's body does not run). With `pool: N` the environment keeps N
// sandboxes made ahead (Sandbox.pool()): each test starts in one at once; teardown closes it.
//
// The Sandbox comes from the environment's copy of nsgroups, not from the one the test file
// imports (jest gives test files a module registry of their own): compare errors by `code`.
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import type { Circus } from '@jest/types';
import { TestEnvironment } from 'jest-environment-node';
import type { SandboxOptions } from '../sandbox/options';
import type { SandboxPool } from '../sandbox/pool';
import { Sandbox } from '../sandbox/sandbox';
import { JEST_STATE, type JestSharedState } from './jest';
import { finishTest, formatTable, reportFile, type TestReportLine } from './report';

declare global {
  /** In a test file run in 'nsgroups/jest-environment': the running test's Sandbox. */
  // eslint-disable-next-line no-var
  var sandbox: Sandbox;
}

export interface JestEnvironmentOptions extends SandboxOptions {
  /** append one JSON line per test here (default: NSGROUPS_REPORT) */
  report?: string;
  /** keep this many sandboxes made ahead of the tests (Sandbox.pool()'s size); default: none, each made as its test starts */
  pool?: number;
}

function testName(test: Circus.TestEntry): string {
  const names: string[] = [];
  for (let t: Circus.TestEntry | Circus.DescribeBlock | undefined = test; t && t.parent; t = t.parent) names.unshift(t.name);
  return names.join(' > ');
}

export default class NsgroupsEnvironment extends TestEnvironment {
  readonly #options: SandboxOptions;
  readonly #pool: SandboxPool | null;
  readonly #report: string | null;
  readonly #file: string;
  readonly #lines: TestReportLine[] = [];
  readonly #state: JestSharedState = { failed: false };
  #current: Sandbox | null = null;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    const given = (config.projectConfig.testEnvironmentOptions as { nsgroups?: JestEnvironmentOptions }).nsgroups ?? {};
    const { report, pool, ...options } = given;
    this.#options = options;
    // a bad option fails the file here, before its first test
    this.#pool = pool === undefined ? null : Sandbox.pool({ ...options, size: pool });
    this.#report = reportFile(report);
    this.#file = context.testPath;
    (this.global as unknown as Record<symbol, JestSharedState>)[JEST_STATE] = this.#state;
  }

  async handleTestEvent(event: Circus.Event): Promise<void> {
    switch (event.name) {
      case 'test_started':
        this.#state.failed = false;
        try {
          this.#current = this.#pool
            ? await this.#pool.create({ name: testName(event.test) })
            : await Sandbox.create({ name: testName(event.test), ...this.#options });
          (this.global as Record<string, unknown>).sandbox = this.#current;
        } catch (err) {
          event.test.errors.push(err as Error); // the test fails with it, and its body does not run
        }
        return;
      case 'hook_failure':
      case 'test_fn_failure':
        this.#state.failed = true;
        return;
      case 'test_done':
        await this.#finish(event.test);
        return;
    }
  }

  async #finish(test: Circus.TestEntry): Promise<void> {
    const sb = this.#current;
    this.#current = null;
    (this.global as Record<string, unknown>).sandbox = undefined;
    if (!sb) return;
    const failed = test.errors.length > 0 || this.#state.failed;
    await finishTest(sb, { test: testName(test), file: this.#file, failed }, this.#report, this.#lines);
  }

  override async teardown(): Promise<void> {
    await this.#current?.dispose().catch(() => {});
    this.#current = null;
    await this.#pool?.close();
    if (this.#lines.length > 0) process.stderr.write(formatTable(this.#lines));
    await super.teardown();
  }
}

export { NsgroupsEnvironment, Sandbox };
