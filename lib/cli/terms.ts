// The library's messages name API options ("options.mounts[0].source '/x' does not exist"); on
// the command line they should name what the user typed ("--bind /x:/y: '/x' does not exist").
// A message that starts with an option path is re-anchored on the argument that set it (run
// records which argument set which path); option names elsewhere in it become their flags.
import type { NsgroupsError } from '../errors';

// spawn()/Cgroup.create() option → the run option that sets it
const FLAGS: Record<string, string> = {
  namespaces: '--ns',
  join: '--join',
  hostname: '--hostname',
  network: '--net',
  user: '--user',
  uidMap: '--map-range',
  gidMap: '--map-range',
  'uidMap/gidMap': '--map-range',
  mounts: '--bind/--tmpfs',
  cwd: '--cwd',
  env: '--env',
  rootfs: '--rootfs',
  readonly: '--readonly',
  init: '--no-init',
  memory: '--memory',
  pids: '--pids',
  cpu: '--cpus',
  capabilities: '--cap',
  seccomp: '--seccomp',
  rlimits: '--rlimit',
  keyring: '--keyring',
};

function flagOf(name: string): string | undefined {
  return FLAGS[name] ?? FLAGS[name.split(/[.[]/)[0]];
}

/** The argument behind an option path: the longest recorded path that is `p` or a prefix of it. */
function sourceOf(p: string, sources: ReadonlyMap<string, string>): string | undefined {
  let best: string | undefined;
  for (const key of sources.keys()) {
    const covers = p === key || p.startsWith(`${key}.`) || p.startsWith(`${key}[`);
    if (covers && (best === undefined || key.length > best.length)) best = key;
  }
  return best === undefined ? undefined : sources.get(best);
}

export function inCliTerms(message: string, sources: ReadonlyMap<string, string>): string {
  let text = message;
  const head = /^(Cgroup\.create )?options\.([\w.[\]'"/-]+?)(?:\s+\(in CPUs\))?(:?)\s+/.exec(text);
  if (head) {
    const p = `${head[1] ? 'cgroup.' : ''}${head[2]}`;
    const arg = sourceOf(p, sources) ?? flagOf(head[2]);
    if (arg) text = `${arg}: ${text.slice(head[0].length).replace(/^is /, '')}`;
  }
  // names left in the middle of a sentence
  text = text
    .replace(/\b(?:Cgroup\.create )?options\.([\w/]+)(?:\.[\w.]+|\[\d+\])*/g, (whole, name: string) => flagOf(name) ?? whole)
    .replace(/\(namespaces\)/g, '(--ns)')
    .replace(/\(join\)/g, '(--join)');
  return text;
}

/** The same error, its message in CLI terms. */
export function cliTerms(err: NsgroupsError, sources: ReadonlyMap<string, string>): NsgroupsError {
  err.message = inCliTerms(err.message, sources);
  return err;
}
