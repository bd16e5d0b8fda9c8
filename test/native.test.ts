// Loading the native addon: addonStatus() names the file the kernel mapped into this process,
// and an addon that is missing or does not load is one ERR_UNSUPPORTED that says what was looked
// for and how to build from source. (The packed tarball's prebuilds: scripts/pack-test.sh.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

type NativeModule = typeof import('../lib/native');
type ErrorsModule = typeof import('../lib/errors');

/** Runs `fn` on fresh lib/native.ts and lib/errors.ts, with node-gyp-build resolving to `resolve()`. */
function withLoader(resolve: () => string, fn: (native: NativeModule, errors: ErrorsModule) => void): void {
  jest.isolateModules(() => {
    jest.doMock('node-gyp-build', () => Object.assign(() => undefined, { resolve }));
    try {
      fn(require('../lib/native'), require('../lib/errors'));
    } finally {
      jest.dontMock('node-gyp-build');
    }
  });
}

it('addonStatus(): loaded, from the file this process has mapped, for linux-<arch> and its libc', () => {
  const { addonStatus } = require('../lib/native') as NativeModule;
  const s = addonStatus();
  expect(s.loaded).toBe(true);
  expect(s.error).toBeUndefined();
  expect(s.platform).toBe(`linux-${process.arch}`);
  // Node's own report knows which C library it runs on
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
  expect(s.libc).toBe(glibc ? 'glibc' : 'musl');
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  expect(maps).toContain(fs.realpathSync(s.file!));
});

it('no build for this platform: one ERR_UNSUPPORTED naming the platform, libc and the fix, every time', () => {
  const missing = () => {
    throw new Error('No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=glibc node=20.19.0');
  };
  withLoader(missing, (native, errors) => {
    let first: unknown;
    try {
      native.native();
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(errors.NsgroupsError);
    const e = first as InstanceType<ErrorsModule['NsgroupsError']>;
    expect(e.code).toBe('ERR_UNSUPPORTED');
    expect(e.message).toContain(`linux-${process.arch}`);
    expect(e.message).toMatch(/no prebuild for linux-\w+ \((glibc|musl)\)/);
    expect(e.message).toContain('npm install-scripts approve nsgroups && npm rebuild nsgroups');
    expect(() => native.native()).toThrow(e); // the same error, not a second load attempt
    const s = native.addonStatus();
    expect(s).toMatchObject({ loaded: false, file: null, platform: `linux-${process.arch}` });
    expect(s.error).toBe(e);
  });
});

it('a build that does not load: ERR_UNSUPPORTED with the file and the loader’s own reason', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsgroups-native-'));
  const bogus = path.join(dir, 'nsgroups.glibc.node');
  fs.writeFileSync(bogus, 'not an ELF object');
  try {
    withLoader(
      () => bogus,
      (native) => {
        const s = native.addonStatus();
        expect(s.loaded).toBe(false);
        expect(s.file).toBe(bogus);
        expect(s.error!.code).toBe('ERR_UNSUPPORTED');
        expect(s.error!.message).toContain('nsgroups.glibc.node did not load');
        expect(s.error!.message).toMatch(/invalid ELF header|file too short/); // dlopen's words
        expect(s.error!.message).toContain('npm rebuild nsgroups');
      },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
