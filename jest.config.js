/** Jest runs the TypeScript sources through ts-jest against the built addon (build/Release). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/v2 runs only in the cgroup v2 guest (.ci/lane-v2.sh, jest.v2.config.js), test/systemd
  // in the guest booted with systemd (.ci/lane-systemd.sh, jest.systemd.config.js)
  testPathIgnorePatterns: ['/node_modules/', '/test/v2/', '/test/systemd/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
  // each test file in its own worker process: spawning tests must not share a parent
  maxWorkers: 2,
  cacheDirectory: `/tmp/nsgroups-jest-cache-${process.getuid ? process.getuid() : 'x'}`,
};
