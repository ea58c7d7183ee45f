/**
 * Per-name mutual exclusion inside one provider instance.
 *
 * Appending and deleting are read-modify-write cycles on a whole TXT record
 * set (UPSERT replaces every value). Two cycles on one name that overlap
 * would lose a value: both read [a], one writes [a, b], the other [a, c].
 * So every cycle holds the lock of each name it touches. A call that touches
 * several names takes their locks in sorted order, so two calls can never
 * wait for each other in a cycle.
 */
import { AbortError } from '../../src/errors.js';

/** Releases every lock taken by one {@link NameLocks.acquire}. */
export type Release = () => void;

/** Keyed FIFO locks. */
export class NameLocks {
  /** key → promise that settles when the last holder queued on it releases. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Number of keys with a holder or a waiter (for tests). */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Waits until this caller holds every key. Rejects with {@link AbortError}
   * if `signal` aborts first; then it holds none and has delayed nobody.
   */
  async acquire(keys: readonly string[], signal: AbortSignal): Promise<Release> {
    const releases: Release[] = [];
    const releaseAll = () => { for (const release of releases.splice(0).reverse()) release(); };
    try {
      for (const key of [...new Set(keys)].sort()) {
        const previous = this.#tails.get(key) ?? Promise.resolve();
        let open!: () => void;
        const mine = new Promise<void>((resolve) => { open = resolve; });
        const tail = previous.then(() => mine);
        this.#tails.set(key, tail);
        // Registered before waiting, so an abort must still open `mine` for whoever queues behind us.
        releases.push(() => {
          open();
          if (this.#tails.get(key) === tail) this.#tails.delete(key);
        });
        await waitFor(previous, signal);
      }
    } catch (error) {
      releaseAll();
      throw error;
    }
    return releaseAll;
  }
}

function waitFor(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new AbortError('route53: waiting for another change to the same record set was aborted', { cause: signal.reason }));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new AbortError('route53: waiting for another change to the same record set was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(() => { signal.removeEventListener('abort', onAbort); resolve(); });
  });
}
