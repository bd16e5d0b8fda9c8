// Sandbox on a pure cgroup v2 system (the v2 lane's guest): its cgroup is a v2 leaf below the
// instance's own, every command is born in it, the limits hold, dispose freezes (cgroup.freeze),
// lists and kills what is left, and removes the cgroup.
import * as fs from 'node:fs';
import { Sandbox } from '../../lib/index';
import { isRoot, itIf } from '../helpers/host';
import { hostMode } from '../helpers/cgroupfs';

const onV2Root = hostMode === 'v2' && isRoot;
const itV2 = (name: string, fn: () => Promise<void>): void => itIf(onV2Root, 'needs a pure cgroup v2 host, as root (the v2 lane guest)', name, fn);

itV2('the commands are in the sandbox cgroup with its limits; dispose kills the leftovers and removes it', async () => {
  const sb = await Sandbox.create({ limits: { memory: { max: '64M' }, pids: { max: 16 } } });
  const dir = sb.cgroup!.path as string;
  expect(fs.readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('16');
  expect(fs.readFileSync(`${dir}/memory.max`, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
  const r = await sb.run('cat', ['/proc/self/cgroup']);
  expect(`/sys/fs/cgroup${r.stdout.trim().slice(3)}`).toBe(dir);
  // fork until refused: the budget is pids.max
  await sb.run('sh', ['-c', 'i=0; while [ $i -lt 50 ]; do sleep 1000 </dev/null >/dev/null 2>&1 & i=$((i + 1)); done; true'], { timeout: 60000 });
  const held = fs.readFileSync(`${dir}/pids.current`, 'utf8').trim();
  expect(Number(held)).toBeLessThanOrEqual(16);
  await sb.dispose();
  expect(sb.report().leftovers.length).toBeGreaterThan(5);
  expect(sb.report().leftovers.every((p) => p.command === 'sleep 1000')).toBe(true);
  expect(fs.existsSync(dir)).toBe(false);
});

itV2("the report's memory peak is memory.peak over the sandbox's life; the commands' verdicts are counted", async () => {
  const sb = await Sandbox.create({ limits: { memory: { max: '256M' } } });
  try {
    const dir = sb.cgroup!.path as string;
    // dd's one 32 MiB buffer, filled by the read
    const hog = await sb.run('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=32M', 'count=1']);
    const after = await sb.run('true');
    // the kernel's own file: the cgroup's peak since it was made (a run's reset is per open file, 6.12+)
    const peakFile = Number(fs.readFileSync(`${dir}/memory.peak`, 'utf8').trim());
    console.log(
      `saw: run peaks ${hog.usage.cgroup!.memoryPeakBytes} (${hog.usage.cgroup!.memoryPeakScope}) then ${after.usage.cgroup!.memoryPeakBytes}; memory.peak ${peakFile}`,
    );
    expect(hog.usage.cgroup!.memoryPeakBytes!).toBeGreaterThan(32 << 20);
    expect(sb.report().memoryPeakBytes).toBeGreaterThanOrEqual(hog.usage.cgroup!.memoryPeakBytes!);
    expect(sb.report().memoryPeakBytes).toBeGreaterThanOrEqual(peakFile);
    expect(sb.report().statuses).toEqual({ ok: 2 });
  } finally {
    await sb.dispose();
  }
});
