/**
 * Jest for the pure cgroup v2 lane (.ci/lane-v2.sh): test/v2/*.v2.test.ts, which make sense only
 * inside the guest of tools/v2vm.sh. The host lanes' jest.config.js ignores /test/v2/.
 *
 * Under TCG emulation ts-jest costs ~50 s per run (typescript itself loads over 9p at 1/30 of the
 * host's speed), so the lane compiles lib/ and test/ to JavaScript on the host
 * (tools/v2vm/compile.js) and points NSGROUPS_V2_COMPILED at that tree: plain JS, no transform.
 * Without it, this config runs the TypeScript sources through ts-jest, e.g. by hand:
 *   tools/v2vm.sh --shared . -- npx jest -c jest.v2.config.js
 */
const base = require('./jest.config');

// Inside the guest JavaScript runs ~10x and exec/module loading 25-60x slower than on the host.
const testTimeout = 120000;

module.exports = process.env.NSGROUPS_V2_COMPILED
  ? {
      rootDir: process.env.NSGROUPS_V2_COMPILED,
      roots: ['<rootDir>/test/v2'],
      testMatch: ['**/*.v2.test.js'],
      testEnvironment: 'node',
      transform: {},
      testTimeout,
      watchman: false,
      cacheDirectory: '/tmp/nsgroups-jest-cache-v2',
    }
  : {
      ...base,
      testMatch: ['<rootDir>/test/v2/**/*.v2.test.ts'],
      testPathIgnorePatterns: ['/node_modules/'],
      testTimeout,
    };
