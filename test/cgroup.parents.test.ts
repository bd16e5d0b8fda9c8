// Cgroup.create('jobs/build-42') makes the parent 'jobs' when it is missing; delete() removes such
// implicit parents again, bottom-up, once no other cgroup lives under them — and never a parent
// that was created explicitly or that holds something else. The oracle: the directories in every
// hierarchy (cgroupfs), and the owner mark the parent carries (its user.nsgroups.owner xattr).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cgroup } from '../lib';
import { native } from '../lib/native';
import { hierarchiesWith, mounts, removeEverywhere, testRoot } from './helpers/cgroupfs';
import { isRoot, itRootless } from './helpers/host';

const root = testRoot('parents');
const rel = (name: string) => `${root}/${name}`;
const limits = { root, memory: { max: '64M' }, pids: { max: 8 } };

afterAll(() => {
  if (isRoot) removeEverywhere(root);
});

(isRoot ? describe : () => undefined)('implicit parents (root)', () => {
  it("create('jobs/build-42') makes 'jobs' in every hierarchy it uses; delete() leaves no 'jobs' behind", async () => {
    const cg = await Cgroup.create('jobs/build-42', limits);
    const where = hierarchiesWith(rel('jobs/build-42'));
    expect(where.length).toBeGreaterThanOrEqual(2);
    expect(hierarchiesWith(rel('jobs'))).toEqual(where);
    // the parent says it was made on the way (the owner record gc reads, with implicit=1)
    const mark = native()
      .lgetxattr(path.join(where[0], rel('jobs')), 'user.nsgroups.owner')
      .toString();
    expect(mark).toMatch(new RegExp(`^pid=${process.pid} .*implicit=1$`));
    await cg.delete();
    expect(hierarchiesWith(rel('jobs'))).toEqual([]);
    expect(hierarchiesWith(root).length).toBeGreaterThan(0); // the base stays: it is not the cgroup's
  });

  it('a shared implicit parent goes with the last cgroup under it, whoever made it, deep ones too', async () => {
    const a = await Cgroup.create('shared/deep/a', limits);
    const b = await Cgroup.create('shared/b', limits); // 'shared' exists already: b made nothing
    await a.delete();
    expect(hierarchiesWith(rel('shared/deep'))).toEqual([]); // a's own implicit parent went
    expect(hierarchiesWith(rel('shared')).length).toBeGreaterThan(0); // b still lives under 'shared'
    // an object that did not make it removes it by its mark: Cgroup.open, in another process too
    await Cgroup.open('shared/b', { root }).delete();
    expect(hierarchiesWith(rel('shared'))).toEqual([]);
    void b;
  });

  it('an explicitly created parent stays; so does one holding a cgroup made by hand', async () => {
    const parent = await Cgroup.create('explicit', limits);
    const child = await Cgroup.create('explicit/child', limits);
    await child.delete();
    expect(hierarchiesWith(rel('explicit')).length).toBeGreaterThan(0);
    await parent.delete();
    expect(hierarchiesWith(rel('explicit'))).toEqual([]);

    const kid = await Cgroup.create('handmade/kid', limits);
    const pidsMount = mounts.find((m) => m.controllers.includes('pids'))?.mountPoint ?? mounts[0].mountPoint;
    const byHand = path.join(pidsMount, rel('handmade/other'));
    fs.mkdirSync(byHand);
    await kid.delete();
    expect(fs.existsSync(path.join(pidsMount, rel('handmade')))).toBe(true); // it has someone else's child
    fs.rmdirSync(byHand);
    // in the hierarchies without that child the parent went, as it was empty there
    expect(hierarchiesWith(rel('handmade'))).toEqual([pidsMount]);
  });

  it('a failed create leaves no parent either', async () => {
    await expect(Cgroup.create('failing/deep/x', { root, pids: { max: 2 ** 40 } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(hierarchiesWith(rel('failing'))).toEqual([]);
  });
});

// a user without a delegated cgroup makes nothing, parents included (the rootless lane's host)
itRootless('without a writable cgroup base: ERR_PERMISSION, before any directory is made', async () => {
  await expect(Cgroup.create(`jobs-${process.pid}/build-42`)).rejects.toMatchObject({ code: 'ERR_PERMISSION' });
  expect(hierarchiesWith(`/jobs-${process.pid}`)).toEqual([]);
});
