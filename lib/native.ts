import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NativeBinding } from '../types/native';
import { NsgroupsError } from './errors';

// The package root: lib/ (tests, ts sources) and dist/ (the bundle) both sit one level below it.
// node-gyp-build prefers build/Release (a build from source), then the prebuild under
// prebuilds/linux-<arch>/ whose libc tag matches (nsgroups.glibc.node, nsgroups.musl.node).
const root = path.join(__dirname, '..');

type Load = ((dir: string) => NativeBinding) & { resolve(dir: string): string };

/** Where the addon came from, or why it could not be loaded (for `nsgroups doctor`). */
export interface AddonStatus {
  loaded: boolean;
  /** the file that was loaded, or that failed to load; null when none matched this system */
  file: string | null;
  /** what was looked for: 'linux-x64', and the C library of the running Node */
  platform: string;
  libc: 'glibc' | 'musl' | 'unknown';
  /** the prebuilds the package carries, as 'linux-x64 glibc' */
  shipped: string[];
  /** the ERR_UNSUPPORTED error when not loaded */
  error?: NsgroupsError;
}

let loaded: { binding: NativeBinding; file: string } | undefined;
let failure: { error: NsgroupsError; file: string | null } | undefined;

/** The C library mapped into this process: glibc's libc.so.6 or musl's loader (ld-musl-*). */
function runningLibc(): 'glibc' | 'musl' | 'unknown' {
  let maps: string;
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 'unknown';
  }
  if (/\/libc\.so\.6$|\/libc-2\.\d+\.so$/m.test(maps)) return 'glibc';
  if (/\/(ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+\.so\.1)$/m.test(maps)) return 'musl';
  return 'unknown';
}

function shippedPrebuilds(): string[] {
  const out: string[] = [];
  const dir = path.join(root, 'prebuilds');
  for (const tuple of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    for (const file of fs.readdirSync(path.join(dir, tuple)).sort()) {
      const libc = /\.(glibc|musl)\.node$/.exec(file)?.[1];
      if (file.endsWith('.node')) out.push(libc ? `${tuple} ${libc}` : tuple);
    }
  }
  return out;
}

function unsupported(file: string | null, err: Error, libc: string): NsgroupsError {
  const platform = `${process.platform}-${process.arch}`;
  const shipped = shippedPrebuilds();
  const what = file
    ? `${path.relative(root, file)} did not load: ${err.message.split('\n')[0]}`
    : `no prebuild for ${platform} (${libc}) in the package, which carries ${shipped.join(', ') || 'none'}`;
  return new NsgroupsError(
    'ERR_UNSUPPORTED',
    `the nsgroups native addon is not available for ${platform} with ${libc} (node ${process.version}): ${what}. ` +
      'Build it from source: `npm install-scripts approve nsgroups && npm rebuild nsgroups` ' +
      '(needs python3, make and a C/C++ compiler; the glibc prebuilds need glibc 2.28 or newer)',
    { cause: err },
  );
}

export function native(): NativeBinding {
  if (loaded) return loaded.binding;
  if (failure) throw failure.error;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = require('node-gyp-build') as Load;
  let file: string | null = null;
  let binding: NativeBinding;
  try {
    file = load.resolve(root);
    binding = require(file) as NativeBinding; // eslint-disable-line @typescript-eslint/no-require-imports
  } catch (err) {
    // node-gyp-build tells musl by /etc/alpine-release only, and elsewhere picks glibc's build
    const libc = runningLibc();
    const musl = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'nsgroups.musl.node');
    if (libc !== 'musl' || file === musl || !fs.existsSync(musl)) {
      failure = { error: unsupported(file, err as Error, libc), file };
      throw failure.error;
    }
    try {
      binding = require(musl) as NativeBinding; // eslint-disable-line @typescript-eslint/no-require-imports
      file = musl;
    } catch (again) {
      failure = { error: unsupported(musl, again as Error, libc), file: musl };
      throw failure.error;
    }
  }
  loaded = { binding, file };
  // process.exit() skips the environment's cleanup hooks: end our children here as well.
  process.on('exit', () => binding.terminateAll());
  return binding;
}

/**
 * Whether the native addon loads here, which file it is, and what was looked for: the one
 * ERR_UNSUPPORTED error that every other call would throw, without throwing it.
 */
export function addonStatus(): AddonStatus {
  const base = { platform: `${process.platform}-${process.arch}`, libc: runningLibc(), shipped: shippedPrebuilds() };
  try {
    native();
    return { ...base, loaded: true, file: loaded!.file };
  } catch (err) {
    if (!(err instanceof NsgroupsError)) throw err;
    return { ...base, loaded: false, file: failure?.file ?? null, error: err };
  }
}
