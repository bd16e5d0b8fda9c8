// A retry that waits longer after each failure in a row — 50 ms, doubling, up to a ceiling — so
// that a setup that keeps failing (a pool whose sandboxes cannot be made) never spins. The timer
// is unref'd: a pending retry does not keep the event loop alive.

export class Backoff {
  #ms = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly retry: () => void,
    private readonly maxMs = 5000,
  ) {}

  /** a retry is scheduled: hold off until it runs */
  get waiting(): boolean {
    return this.#timer !== null;
  }

  /** the next failure waits the shortest time again */
  succeeded(): void {
    this.#ms = 0;
  }

  /** schedules the retry, twice as late as the last one in a row */
  failed(): void {
    this.#ms = Math.min(this.maxMs, this.#ms ? this.#ms * 2 : 50);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.retry();
    }, this.#ms);
    this.#timer.unref();
  }

  /** no retry after all (the pool is closing) */
  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
