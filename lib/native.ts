import * as path from 'node:path';
import type { NativeBinding } from '../types/native';
import { NsgroupsError } from './errors';

// The package root: lib/ (tests, ts sources) and dist/ (the bundle) both sit one level below it.
// node-gyp-build prefers build/Release, then a prebuild under prebuilds/linux-<arch>/.
const root = path.join(__dirname, '..');

let binding: NativeBinding | undefined;

export function native(): NativeBinding {
  if (!binding) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    try {
      binding = load(root);
      // process.exit() skips the environment's cleanup hooks: end our children here as well.
      const b = binding;
      process.on('exit', () => b.terminateAll());
    } catch (err) {
      throw new NsgroupsError(
        'ERR_UNSUPPORTED',
        `the nsgroups native addon is not built for this platform (${process.platform}-${process.arch}, ` +
          `node ${process.version}): ${(err as Error).message}. Build it from source with ` +
          '`npm install-scripts approve nsgroups && npm rebuild nsgroups` (needs python3, make and a C++ compiler)',
        { cause: err },
      );
    }
  }
  return binding;
}
