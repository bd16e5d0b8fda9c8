#!/usr/bin/env node
'use strict';
// Runs jest for this lane (root or rootless, from the effective uid) and prints
// "<lane>: N passed, N failed, N skipped". Arguments are passed to jest (e.g. test files).
// NSGROUPS_LANE_RESULT=FILE also writes {passed, failed, skipped} there for .ci/run to sum.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const lane = process.env.NSGROUPS_LANE || (process.geteuid() === 0 ? 'root' : 'rootless');
const out = path.join(os.tmpdir(), `nsgroups-jest-${process.pid}.json`);
const jest = require.resolve('jest/bin/jest', { paths: [root] });
const r = spawnSync(process.execPath, [jest, '--json', `--outputFile=${out}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NSGROUPS_LANE: lane },
});
let summary = { passed: 0, failed: 0, skipped: 0 };
try {
  const j = JSON.parse(fs.readFileSync(out, 'utf8'));
  summary = { passed: j.numPassedTests, failed: j.numFailedTests, skipped: j.numPendingTests + j.numTodoTests };
  // A suite can fail outside its tests (it did not load; a beforeAll/afterAll threw): count each
  // such suite as one failure, so that it never reads as "0 failed".
  summary.failed += j.testResults.filter((t) => t.status === 'failed' && !t.assertionResults.some((a) => a.status === 'failed')).length;
  fs.unlinkSync(out);
} catch {
  summary.failed += 1; // no report at all: jest itself failed
}
console.log(`${lane}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
if (process.env.NSGROUPS_LANE_RESULT) fs.writeFileSync(process.env.NSGROUPS_LANE_RESULT, JSON.stringify(summary));
process.exit(r.status === 0 && summary.failed === 0 ? 0 : 1);
