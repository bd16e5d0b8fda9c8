// One heavy step per turn of the event loop. When many asynchronous setups finish together (50
// Cgroup.create() whose mkdirs came back in the same poll phase), their callers' next steps —
// typically a spawn(), whose clone and plan are synchronous by contract — would all run in that
// one turn, and every timer and socket of the program would wait for all of them. takeTurn()
// lets the first of a turn through and queues the others, one per following turn, in order.
// Nothing is skipped or reordered; a caller alone is never delayed.

let busy = false; // a caller went through in this turn (or one is being let through)
const queue: Array<() => void> = [];

// Check phase (setImmediate). An immediate queued from the check phase runs in the next turn of
// the loop, after its timers and its poll phase: so each release below gets a turn of its own.
function release(): void {
  const next = queue.shift();
  if (!next) {
    busy = false;
    return;
  }
  next(); // its continuation (the caller's next steps) runs in the microtasks after this callback
  setImmediate(release);
}

/**
 * null when the caller may go on in this turn; else a promise that resolves in a later turn,
 * after those queued before it (one per turn).
 */
export function takeTurn(): Promise<void> | null {
  if (!busy) {
    busy = true;
    // from the poll phase an immediate runs in this turn's check phase: a second hop reaches
    // the next turn, where the queued ones start
    setImmediate(() => setImmediate(release));
    return null;
  }
  return new Promise((resolve) => queue.push(resolve));
}
