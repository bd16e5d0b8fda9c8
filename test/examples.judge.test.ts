// examples/judge.js as a user runs it (CI runs it here): every submission gets the verdict it was
// written for, and the judge leaves no cgroup behind; without a cgroup of its own it says so.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { hierarchiesWith } from './helpers/cgroupfs';
import { itRoot, itRootless } from './helpers/host';

const judge = path.join(__dirname, '..', 'examples', 'judge.js');

itRoot(
  'examples/judge.js: AC, WA, TLE (CPU and wall), MLE, RE (exit and signal), OLE, IE; exit 0; no cgroup left',
  () => {
    const r = spawnSync(process.execPath, [judge], { encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.slice(0, 18).trim() + ' ' + l.slice(19).split(/\s+/).slice(0, 2).join(' '));
    // a loop gets its 1.2 s of CPU within the 3 s of wall clock on a quiet host; on a loaded one the
    // wall clock may stop it first: TLE either way
    rows[3] = rows[3].replace('TLE timeout', 'TLE cpuTime');
    expect(rows).toEqual([
      'correct (awk) AC ok',
      'correct (node) AC ok',
      'wrong answer WA ok',
      'infinite loop TLE cpuTime',
      'sleeps forever TLE timeout',
      '512 MiB array MLE memory',
      'throws RE exit',
      'segfaults RE signal',
      'output flood OLE output',
      'no such program IE setup',
    ]);
    expect(r.stdout).not.toContain('expected');
    expect(hierarchiesWith(`/nsgroups/judge-${r.pid}`)).toEqual([]);
  },
  120000,
);

itRootless('examples/judge.js without a cgroup of its own: says why, exit 2', () => {
  const r = spawnSync(process.execPath, [judge], { encoding: 'utf8', timeout: 60000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/^judge\.js needs a cgroup of its own/);
});
