// Where an integration's sandbox for a test comes from: Sandbox.create(options) made when the
// test starts, or a SandboxPool's sandbox made ahead (the test gets it at once).
import type { SandboxOptions } from '../sandbox/options';
import { SandboxPool } from '../sandbox/pool';
import { Sandbox } from '../sandbox/sandbox';

/** What an integration takes: Sandbox.create()'s options, or a pool made with Sandbox.pool(). */
export type SandboxSource = SandboxOptions | SandboxPool;

export function sandboxFor(source: SandboxSource | undefined, test: string): Promise<Sandbox> {
  return source instanceof SandboxPool ? source.create({ name: test }) : Sandbox.create({ name: test, ...source });
}
