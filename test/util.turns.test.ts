// lib/util/turns.ts: one heavy step per turn of the event loop. The oracle is the loop itself:
// each released step works 3 ms, so a 1 ms timer is due after it, and the loop runs due timers
// at the start of each turn: a timer between two releases proves they ran in different turns
// (two in one turn would have nothing between them).
import { takeTurn, turnGate } from '../lib/util/turns';

const turnsLater = (n: number): Promise<void> => (n === 0 ? Promise.resolve() : new Promise((r) => setImmediate(() => void turnsLater(n - 1).then(r))));

// a 1 ms timer that notes each tick in `seen`, where the steps note themselves too
function timerLog(): { seen: string[]; stop: () => void } {
  const seen: string[] = [];
  let ticking = true;
  const tick = (): void => {
    seen.push('timer');
    if (ticking) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  return { seen, stop: () => (ticking = false) };
}

// the CPU busy for `ms`: a step long enough that a 1 ms timer falls due during it
function work(ms: number): void {
  for (const end = Date.now() + ms; Date.now() < end;);
}

describe('takeTurn', () => {
  it('lets a caller alone through at once, again once the loop moved on', async () => {
    expect(takeTurn()).toBeNull();
    await turnsLater(3);
    expect(takeTurn()).toBeNull();
    await turnsLater(3);
  });

  it('queues the others of the same turn and releases them in order, one per later turn', async () => {
    const { seen, stop } = timerLog();
    expect(takeTurn()).toBeNull();
    work(3);
    const waits = [1, 2, 3].map((i) =>
      takeTurn()!.then(() => {
        seen.push(`released ${i}`);
        work(3);
      }),
    );
    expect(waits.every((w) => w instanceof Promise)).toBe(true);
    await Promise.all(waits);
    stop();
    const released = seen.map((s, i) => [s, i] as const).filter(([s]) => s.startsWith('released'));
    expect(released.map(([s]) => s)).toEqual(['released 1', 'released 2', 'released 3']);
    // between two releases the loop went round: its timers ran
    for (let k = 1; k < released.length; k++) {
      expect(seen.slice(released[k - 1][1] + 1, released[k][1])).toContain('timer');
    }
    await turnsLater(3);
    expect(takeTurn()).toBeNull(); // drained: free again
    await turnsLater(3);
  });

  it('shares one step per turn among the kinds, the exits first, then deletes, then creates', async () => {
    const exit = turnGate('exit');
    const del = turnGate('delete');
    const { seen, stop } = timerLog();
    expect(takeTurn()).toBeNull(); // a create goes through; everything else of this turn waits
    work(3);
    const step = (name: string, wait: Promise<void> | null): Promise<void> => {
      expect(wait).toBeInstanceOf(Promise); // none of them in the create's turn
      return wait!.then(() => {
        seen.push(name);
        work(3);
      });
    };
    // queued in the order create, delete, exit, create, exit: released by kind, then in order
    const waits = [step('create 1', takeTurn()), step('delete 1', del()), step('exit 1', exit()), step('create 2', takeTurn()), step('exit 2', exit())];
    await Promise.all(waits);
    stop();
    const steps = seen.map((s, i) => [s, i] as const).filter(([s]) => s !== 'timer');
    expect(steps.map(([s]) => s)).toEqual(['exit 1', 'exit 2', 'delete 1', 'create 1', 'create 2']);
    for (let k = 1; k < steps.length; k++) expect(seen.slice(steps[k - 1][1] + 1, steps[k][1])).toContain('timer');
    await turnsLater(3);
    expect(exit()).toBeNull(); // drained: free again, for any kind
    await turnsLater(3);
  });
});
