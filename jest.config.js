/** Jest runs the TypeScript sources through ts-jest against the built addon (build/Release). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 30000,
  // each test file in its own worker process: spawning tests must not share a parent
  maxWorkers: 2,
  cacheDirectory: `/tmp/nsgroups-jest-cache-${process.getuid ? process.getuid() : 'x'}`,
};
