// jest for the examples: `npx jest --config examples/jest/jest.config.js` (after `npm run build`).
// Two ways, one project each: environment.test.js runs in nsgroups' test environment (every
// test gets a fresh Sandbox as `globalThis.sandbox`, with the options below); helper.test.js
// runs in jest's own node environment and makes its sandboxes with the useSandbox() helper.
// `pool: 2` keeps two sandboxes made ahead of the environment's tests (Sandbox.pool()): each test
// starts in one at once.
const workspace = `${__dirname}/../project`;

module.exports = {
  projects: [
    {
      displayName: 'environment',
      rootDir: __dirname,
      testMatch: ['<rootDir>/environment.test.js'],
      testEnvironment: 'nsgroups/jest-environment',
      testEnvironmentOptions: { nsgroups: { workspace, network: 'loopback', pool: 2 } },
    },
    {
      displayName: 'helper',
      rootDir: __dirname,
      testMatch: ['<rootDir>/helper.test.js'],
      testEnvironment: 'node',
    },
  ],
};
