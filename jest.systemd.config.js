/**
 * Jest for the systemd lane (.ci/lane-systemd.sh): test/systemd/*.systemd.test.ts, which make sense
 * only inside the guest of tools/v2vm.sh --init systemd (a real systemd as PID 1, a system bus,
 * logind, a lingering user). Like the v2 lane it runs the JavaScript that tools/v2vm/compile.js
 * made on the host (NSGROUPS_SYSTEMD_COMPILED): no transform under TCG. The host lanes ignore
 * /test/systemd/.
 */
const uid = process.getuid ? process.getuid() : 'x';

module.exports = {
  rootDir: process.env.NSGROUPS_SYSTEMD_COMPILED || __dirname,
  roots: ['<rootDir>/test/systemd'],
  testMatch: ['**/*.systemd.test.js'],
  testEnvironment: 'node',
  transform: {},
  // JavaScript runs ~10x and exec ~50x slower in the guest than on the host
  testTimeout: 120000,
  watchman: false,
  // the user and root run files in turn: a cache each
  cacheDirectory: `/tmp/nsgroups-jest-cache-systemd-${uid}`,
};
