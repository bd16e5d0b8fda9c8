// events(): an async iterator of what happens to a cgroup. v2 tells by a file modified event on
// cgroup.events and memory.events (inotify, which fs.watch uses; cgroup-v2.rst "Conventions");
// v1 tells an OOM through an eventfd registered on memory.oom_control (cgroup-v1/memory.rst
// "OOM Control"), and nothing else: populated and freezer.state are polled there.
// Each wakeup re-reads the state and reports what changed since the last read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromNodeError } from '../errors';
import { native } from '../native';
import type { NativeEventfdWatch } from '../../types/native';
import type { EventPlan, EventSnapshot } from './backend';

/**
 * What happened: 'oom' the memory limit was hit with nothing to reclaim, 'oomKill' the OOM killer
 * killed a process, 'populated' and 'empty' the first process came and the last one left,
 * 'frozen' and 'thawed' the freezer's state changed.
 */
export type CgroupEventType = 'oom' | 'oomKill' | 'populated' | 'empty' | 'frozen' | 'thawed';

/** One event of cg.events(). */
export interface CgroupEvent {
  /** what happened */
  type: CgroupEventType;
  /** the name of the cgroup events() was called on */
  cgroup: string;
  /** oom, oomKill: the cgroup (path in its hierarchy) whose memory limit fired — this one, a child or an ancestor */
  limitedBy?: string;
  /** oom, oomKill: how many happened since the previous event (v1 oom: 1 per notification) */
  count?: number;
  /** Date.now() when the library saw it */
  time: number;
}

/** cg.events()'s options. */
export interface CgroupEventsOptions {
  /** ends the iteration when aborted */
  signal?: AbortSignal;
  /** how often state without a notification is re-read (v1: populated, freezer.state, oom_kill); default 100 ms */
  pollInterval?: number;
}

// After a v1 OOM notification the victim is chosen and killed a moment later: look again at these
// delays for the oom_kill count to rise.
const AFTER_OOM_MS = [5, 20, 50, 100, 250, 500, 1000];
const OOM_GATHER_MS = 5;
const OOM_HOLD_MS = 50;
// an oom_kill counted this long after an OOM notification belongs to that OOM
const RECENT_OOM_MS = 3000;

export class CgroupEventStream implements AsyncIterableIterator<CgroupEvent> {
  private queue: CgroupEvent[] = [];
  private waiting: Array<(r: IteratorResult<CgroupEvent>) => void> = [];
  private done = false;
  private last: EventSnapshot;
  private watchers: fs.FSWatcher[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private interval: NodeJS.Timeout | null = null;
  private eventfds: NativeEventfdWatch[] = [];
  private oomBatch: { top: number; count: number } | null = null;
  private oomFlush: NodeJS.Timeout | null = null;
  private lastOom: { limitedBy: string; at: number } | null = null;
  private killHeldSince: number | null = null;
  private readonly onAbort = () => this.end();

  constructor(
    private readonly plan: EventPlan,
    private readonly name: string,
    private readonly signal: AbortSignal | undefined,
    private readonly onEnd: (stream: CgroupEventStream) => void,
  ) {
    this.last = plan.read();
    if (signal?.aborted) {
      this.end();
      return;
    }
    try {
      this.start();
    } catch (err) {
      this.end();
      throw err;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private start(): void {
    for (const file of this.plan.watchFiles) {
      const watcher = fs.watch(file, () => this.check());
      watcher.on('error', () => this.check());
      this.watchers.push(watcher);
    }
    const self = this.plan.oomEventfds.length - 1;
    this.plan.oomEventfds.forEach(({ controlFile, oomControlFile }, index) => {
      const watch = new (native().EventfdWatch)((count) => this.onOomNotification(index, count));
      this.eventfds.push(watch);
      // "<event_fd> <fd of memory.oom_control>" (cgroup-v1/memory.rst): the control file's fd is
      // needed only while registering; closing the eventfd unregisters.
      try {
        const fd = fs.openSync(oomControlFile, 'r');
        try {
          fs.writeFileSync(controlFile, `${watch.fd} ${fd}`);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        watch.close();
        // an ancestor we may not write to only costs the attribution to it; our own cgroup must work
        if (index === self) throw fromNodeError(err, `watching ${oomControlFile} for OOM`, { path: controlFile });
      }
    });
    if (this.plan.pollMs) this.interval = setInterval(() => this.check(), this.plan.pollMs);
  }

  // The eventfds of one OOM fire together (the cgroup that ran out and those below it): gather
  // them for a moment, then report one 'oom' naming the topmost.
  private onOomNotification(index: number, count: number): void {
    if (this.done) return;
    // The eventfd also fires when its cgroup is removed (rmdir): only a live cgroup had an OOM.
    if (!fs.existsSync(this.plan.aliveDir)) return this.end();
    if (!fs.existsSync(path.dirname(this.plan.oomEventfds[index].oomControlFile))) return;
    const batch = (this.oomBatch ??= { top: index, count: 0 });
    batch.top = Math.min(batch.top, index);
    batch.count = Math.max(batch.count, count, 1);
    if (this.oomFlush) return;
    this.oomFlush = setTimeout(() => {
      this.oomFlush = null;
      const { top, count: n } = this.oomBatch!;
      this.oomBatch = null;
      const limitedBy = this.plan.oomEventfds[top].rel;
      this.lastOom = { limitedBy, at: Date.now() };
      this.killHeldSince = null;
      this.push({ type: 'oom', cgroup: this.name, limitedBy, count: n, time: Date.now() });
      this.check();
      for (const ms of AFTER_OOM_MS) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.check();
        }, ms);
        this.timers.add(t);
      }
    }, OOM_GATHER_MS);
  }

  // A poll can see the oom_kill count rise before the loop has run the eventfd's callback (timers
  // run before I/O in a libuv turn), or while its batch is gathering: on v1, hold the count back
  // briefly so that the kill is attributed to the OOM the eventfd names.
  private waitForOomNotification(now: number): boolean {
    if (!this.plan.oomEventfds.length) return false;
    if (this.oomBatch) return true;
    if (this.lastOom && now - this.lastOom.at < RECENT_OOM_MS) return false;
    if (this.killHeldSince === null) {
      this.killHeldSince = now;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.check();
      }, OOM_HOLD_MS);
      this.timers.add(t);
      return true;
    }
    if (now - this.killHeldSince < OOM_HOLD_MS) return true;
    this.killHeldSince = null;
    return false;
  }

  /** Which cgroup's limit made this OOM: the last eventfd-reported one if recent, else the backend's guess. */
  private limitedBy(): string | undefined {
    if (this.lastOom && Date.now() - this.lastOom.at < RECENT_OOM_MS) return this.lastOom.limitedBy;
    return this.safe(() => this.plan.locateOom(), undefined);
  }

  private safe<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch {
      return fallback;
    }
  }

  private check(): void {
    if (this.done) return;
    let now: EventSnapshot;
    try {
      now = this.plan.read();
    } catch {
      return this.end(); // the cgroup is gone
    }
    const prev = this.last;
    this.last = now;
    const time = Date.now();
    const base = { cgroup: this.name, time };
    if (now.oom !== null && prev.oom !== null && now.oom > prev.oom) {
      this.push({ ...base, type: 'oom', limitedBy: this.limitedBy(), count: now.oom - prev.oom });
    }
    if (now.oomKill !== null && prev.oomKill !== null && now.oomKill > prev.oomKill) {
      if (this.waitForOomNotification(time))
        now.oomKill = prev.oomKill; // count it on the next look
      else this.push({ ...base, type: 'oomKill', limitedBy: this.limitedBy(), count: now.oomKill - prev.oomKill });
    }
    if (now.populated !== null && prev.populated !== null && now.populated !== prev.populated) {
      this.push({ ...base, type: now.populated ? 'populated' : 'empty' });
    }
    if (now.frozen !== null && prev.frozen !== null && now.frozen !== prev.frozen) {
      this.push({ ...base, type: now.frozen ? 'frozen' : 'thawed' });
    }
  }

  private push(event: CgroupEvent): void {
    const resolve = this.waiting.shift();
    if (resolve) resolve({ value: event, done: false });
    else this.queue.push(event);
  }

  /** Stops watching; pending and later next() calls finish the iteration. */
  end(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.interval) clearInterval(this.interval);
    if (this.oomFlush) clearTimeout(this.oomFlush);
    for (const w of this.eventfds) w.close();
    this.eventfds = [];
    this.signal?.removeEventListener('abort', this.onAbort);
    this.onEnd(this);
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<CgroupEvent>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<CgroupEvent>> {
    this.queue = [];
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<CgroupEvent> {
    return this;
  }
}
