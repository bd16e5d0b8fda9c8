// The two ways a sandbox is made for a command — spawn()/run() now, or a warm pool's sandbox
// made ahead of time and handed the command — behind one face, so that the hardening tests run
// against both (test/hostile.*.test.ts): a pooled sandbox must hold exactly as an unpooled one.
import { createPool, run, spawn, type Pool, type RunOptions, type RunResult, type SandboxProcess, type SpawnOptions } from '../../lib';

export interface SandboxMaker {
  name: string;
  run(command: string, args: string[], options?: RunOptions): Promise<RunResult<string>>;
  /** resolves once the process is handed its command (at once for spawn) */
  spawn(command: string, args: string[], options?: SpawnOptions): Promise<SandboxProcess>;
}

// what a run takes; everything else describes the sandbox, the pool's
const RUN_KEYS = new Set(['cwd', 'env', 'argv0', 'stdio', 'timeout', 'signal', 'killSignal', 'killAfter', 'input', 'encoding', 'maxBuffer']);

function split(options: Record<string, unknown>): [Record<string, unknown>, Record<string, unknown>] {
  const sandbox: Record<string, unknown> = {};
  const perRun: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) (RUN_KEYS.has(k) ? perRun : sandbox)[k] = v;
  return [sandbox, perRun];
}

const open = new Set<Pool>();

/** Closes the pools of processes that tests left running (call in afterAll). */
export async function closePools(): Promise<void> {
  await Promise.all([...open].map((p) => p.close()));
  open.clear();
}

export const unpooled: SandboxMaker = {
  name: 'spawn()',
  run: (command, args, options) => run(command, args, options as RunOptions & { encoding?: 'utf8' }),
  spawn: async (command, args, options) => spawn(command, args, options),
};

export const pooled: SandboxMaker = {
  name: 'a warm pool',
  async run(command, args, options = {}) {
    const [sandbox, perRun] = split(options as Record<string, unknown>);
    const pool = await createPool({ size: 1, ...(sandbox as SpawnOptions) });
    try {
      return (await pool.run(command, args, perRun)) as RunResult<string>;
    } finally {
      await pool.close();
    }
  },
  async spawn(command, args, options = {}) {
    const [sandbox, perRun] = split(options as Record<string, unknown>);
    const pool = await createPool({ size: 1, ...(sandbox as SpawnOptions) });
    open.add(pool);
    try {
      const p = pool.spawn(command, args, perRun);
      const close = (): void => {
        open.delete(pool);
        void pool.close();
      };
      p.once('exit', close);
      p.once('error', close);
      return p;
    } catch (err) {
      open.delete(pool);
      await pool.close();
      throw err;
    }
  },
};

export const makers: Array<[string, SandboxMaker]> = [
  [unpooled.name, unpooled],
  [pooled.name, pooled],
];
