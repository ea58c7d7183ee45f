/**
 * One timer for the whole control loop (not one per certificate): it sleeps
 * until the earliest due time or the check interval, whichever is sooner.
 * The timer is unref'd so a monitoring manager never keeps a process alive.
 */

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** Longest sleep between two ticks. */
  checkIntervalMs: number;
  /** One pass of the loop; resolves to ms until the next due item (or undefined). */
  tick: () => Promise<number | undefined>;
  onError: (error: unknown) => void;
}

// setTimeout clamps larger delays to 1 ms: keep every sleep below 2^31-1.
const MAX_DELAY = 2_147_000_000;

/** A single-timer scheduler. */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private ticking = false;
  private started = false;

  constructor(private readonly options: SchedulerOptions) {}

  /** Whether {@link start} was called and {@link stop} was not. */
  get running(): boolean {
    return this.started;
  }

  start(): void {
    this.started = true;
  }

  stop(): void {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = Infinity;
  }

  /** Makes sure a tick happens within `inMs` (never postpones an earlier one). */
  wake(inMs: number): void {
    if (!this.started) return;
    const delay = Math.min(Math.max(0, inMs), this.options.checkIntervalMs, MAX_DELAY);
    const at = Date.now() + delay;
    if (this.timer && at >= this.dueAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.dueAt = Infinity;
    if (!this.started) return;
    if (this.ticking) return this.wake(50);
    this.ticking = true;
    let next: number | undefined;
    try {
      next = await this.options.tick();
    } catch (error) {
      this.options.onError(error);
    } finally {
      this.ticking = false;
    }
    this.wake(next ?? this.options.checkIntervalMs);
  }
}
