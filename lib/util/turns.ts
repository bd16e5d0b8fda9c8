// One heavy step per turn of the event loop. When many asynchronous setups finish together (50
// Cgroup.create() whose mkdirs came back in the same poll phase), their callers' next steps —
// typically a spawn(), whose clone and plan are synchronous by contract — would all run in that
// one turn, and every timer and socket of the program would wait for all of them. The gates
// let the first step of a turn through and queue the others, one per following turn. Nothing
// is skipped; a caller alone is never delayed.
//
// The kinds of step share the budget of one per turn, and a queued step of an earlier kind goes
// first: the exits of ended sandboxes, then the deletes of their cgroups, then creates. What ends
// frees what a create would wait for, and an exit never waits behind a queue of fifty creates.
// Within a kind, the order is the callers' order.

/** null when the caller may go on in this turn; else a promise resolved in a later turn. */
export type TurnGate = () => Promise<void> | null;

const KINDS = ['exit', 'delete', 'create'] as const;
export type StepKind = (typeof KINDS)[number];

let busy = false; // a step went through in this turn (or one is being let through)
const queues = new Map<StepKind, Array<() => void>>(KINDS.map((k) => [k, []]));

// Check phase (setImmediate). An immediate queued from the check phase runs in the next turn of
// the loop, after its timers and its poll phase: so each release below gets a turn of its own.
function release(): void {
  for (const kind of KINDS) {
    const next = queues.get(kind)!.shift();
    if (!next) continue;
    next(); // its continuation (the caller's next steps) runs in the microtasks after this callback
    setImmediate(release);
    return;
  }
  busy = false;
}

/** The gate of one kind of step. */
export function turnGate(kind: StepKind): TurnGate {
  const queue = queues.get(kind)!;
  return () => {
    if (!busy) {
      busy = true;
      // from the poll phase an immediate runs in this turn's check phase: a second hop reaches
      // the next turn, where the queued ones start
      setImmediate(() => setImmediate(release));
      return null;
    }
    return new Promise((resolve) => queue.push(resolve));
  };
}

/** The gate of Cgroup.create (its planning, and its tail with the caller's spawn after it). */
export const takeTurn: TurnGate = turnGate('create');
