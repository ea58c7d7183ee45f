/**
 * Lease bookkeeping shared by every store: option defaults, the wait loop
 * (poll with back-off, woken early by in-process releases), and the
 * {@link Lease} that renews itself every third of its TTL.
 *
 * A store only supplies the three primitives that touch its medium: try to
 * create the lock, renew it if the token still matches, release it if the
 * token still matches. Keeping the timing rules here means the file, memory
 * and Redis stores expire, renew and give up in exactly the same way.
 */
import { AbortError, ConfigError, LockError } from '../errors.js';
import type { StoreLock, StoreLockOptions } from './store.js';

/** Lease length when {@link StoreLockOptions.ttlMs} is not given (30 s). */
export const DEFAULT_LOCK_TTL_MS = 30_000;
/** Wait for a busy lock when {@link StoreLockOptions.waitMs} is not given (2 min). */
export const DEFAULT_LOCK_WAIT_MS = 120_000;

/** First and largest pause between two attempts to take a busy lock. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 250;

/** What a store does to its medium for one held lease. */
export interface LeaseBackend {
  /** Moves the expiry to `expiresAt` if the lock still carries our token; `false` when someone else owns it. */
  renew(expiresAt: number): Promise<boolean>;
  /** Removes the lock if it still carries our token; `false` (and nothing removed) when someone else owns it. */
  release(): Promise<boolean>;
}

/** Everything a {@link Lease} needs at birth. */
export interface LeaseInit {
  /** The locked key. */
  key: string;
  /** The owner token written with the lock. */
  token: string;
  /** Lease length; renewal runs every third of it. */
  ttlMs: number;
  /** Expiry the store recorded when it created the lock (ms since the epoch). */
  expiresAt: number;
  /** The store's renew and release primitives. */
  backend: LeaseBackend;
  /** Called once the lease ends (released or lost), so the store can forget it. */
  onEnd?: (lease: Lease) => void;
}

const suspenders = new WeakMap<object, () => () => void>();

/**
 * A held lock that renews itself until released. Renewal timers are
 * `unref`'d: a forgotten lock must not keep a process alive.
 *
 * @example
 * ```ts
 * const lock = await store.lock('orders/api', { ttlMs: 30_000 });
 * try { await work({ signal: lock.lost }); } finally { await lock.release(); }
 * ```
 */
export class Lease implements StoreLock {
  readonly key: string;
  readonly token: string;
  readonly lost: AbortSignal;
  readonly #lost = new AbortController();
  readonly #ttlMs: number;
  readonly #backend: LeaseBackend;
  readonly #onEnd: ((lease: Lease) => void) | undefined;
  #expiresAt: number;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #released: Promise<void> | undefined;
  #ended = false;
  #suspended = false;
  #forgotten = false;

  constructor(init: LeaseInit) {
    this.key = init.key;
    this.token = init.token;
    this.lost = this.#lost.signal;
    this.#ttlMs = init.ttlMs;
    this.#expiresAt = init.expiresAt;
    this.#backend = init.backend;
    this.#onEnd = init.onEnd;
    suspenders.set(this, () => {
      this.#suspended = true;
      clearTimeout(this.#timer);
      return () => { this.#suspended = false; this.#schedule(0); };
    });
    this.#schedule(this.#ttlMs / 3);
  }

  /** Releases the lock; a second call returns the first call's outcome. */
  release(): Promise<void> {
    this.#released ??= this.#release().catch((error: unknown) => {
      // An I/O failure is worth retrying; a lost lock is final.
      if (!(error instanceof LockError)) this.#released = undefined;
      throw error;
    });
    return this.#released;
  }

  async #release(): Promise<void> {
    this.#ended = true;
    clearTimeout(this.#timer);
    // A renewal rewriting the lock after we removed it would resurrect it for a whole TTL.
    await this.#renewing;
    const owned = await this.#backend.release();
    this.#finish();
    if (!owned) {
      const error = notOwned(this.key);
      this.#lose(error);
      throw error;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#ended || this.#suspended || this.lost.aborted) return;
    this.#timer = setTimeout(() => {
      this.#renewing = this.#renew().then((next) => {
        this.#renewing = undefined;
        this.#schedule(next);
      });
    }, delayMs);
    this.#timer.unref();
  }

  /** Renews once; resolves to the delay before the next renewal. Never rejects. */
  async #renew(): Promise<number> {
    const now = Date.now();
    // Past (or nearly past) our expiry another owner may already have taken the lock
    // over: renewing now could overwrite theirs, so we give up instead.
    if (now >= this.#expiresAt - Math.min(this.#ttlMs / 10, 1000)) {
      this.#lose(new LockError('LOCK_NOT_OWNED', `The lease on "${this.key}" expired before it could be renewed (the process was stalled or the store unreachable)`, { details: { key: this.key } }));
      return 0;
    }
    const expiresAt = now + this.#ttlMs;
    try {
      if (await this.#backend.renew(expiresAt)) {
        this.#expiresAt = expiresAt;
        return this.#ttlMs / 3;
      }
      this.#lose(notOwned(this.key));
    } catch {
      // A transient store error: try again soon; the expiry check above decides when to give up.
      return Math.max(this.#ttlMs / 10, 1);
    }
    return 0;
  }

  #lose(reason: LockError): void {
    clearTimeout(this.#timer);
    if (!this.lost.aborted) this.#lost.abort(reason);
    this.#finish();
  }

  #finish(): void {
    if (this.#forgotten) return;
    this.#forgotten = true;
    this.#onEnd?.(this);
  }
}

function notOwned(key: string): LockError {
  return new LockError('LOCK_NOT_OWNED', `The lock on "${key}" was taken over by another owner (its lease expired without renewal); work done under it may have overlapped`, { details: { key } });
}

/**
 * @internal Test hook: stops renewing `lock` as if its process had frozen or died,
 * without releasing it. Returns a function that resumes renewal.
 */
export function suspendRenewal(lock: StoreLock): () => void {
  const suspend = suspenders.get(lock);
  if (!suspend) throw new TypeError('suspendRenewal() only works on locks created through Lease');
  return suspend();
}

/**
 * Wakes in-process waiters as soon as a lock is released, so contention
 * inside one process does not pay the polling interval. Other processes
 * still poll.
 *
 * @example
 * ```ts
 * const waiters = new LockWaiters();
 * await waiters.wait('orders/api', 250, signal); // returns early on notify
 * waiters.notify('orders/api');                  // from the code that released it
 * ```
 */
export class LockWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Wakes everyone waiting on `id`. */
  notify(id: string): void {
    for (const wake of this.#waiting.get(id) ?? []) wake();
  }

  /** Resolves after `ms`, on {@link LockWaiters.notify}, or on abort — whichever comes first. */
  wait(id: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#waiting.get(id) ?? new Set();
      this.#waiting.set(id, set);
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.#waiting.get(id) === set) this.#waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** The outcome of one attempt to take a lock. */
export type AcquireAttempt = { lock: Lease } | { lock?: undefined; holder?: string };

/** Validated lock options with defaults applied. */
export function lockOptions(options: StoreLockOptions = {}): { ttlMs: number; waitMs: number; signal: AbortSignal | undefined } {
  const ttlMs = options.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  const waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS;
  if (!Number.isFinite(ttlMs) || ttlMs < 30) {
    throw new ConfigError('INVALID_OPTIONS', `Lock ttlMs must be a finite number of at least 30 ms, got ${ttlMs}`);
  }
  if (!(waitMs >= 0)) throw new ConfigError('INVALID_OPTIONS', `Lock waitMs must be a number >= 0, got ${waitMs}`);
  return { ttlMs, waitMs, signal: options.signal };
}

/**
 * Calls `attempt` until it yields a lock, polling at 10 ms growing to 250 ms,
 * until `waitMs` runs out (`LOCK_TIMEOUT`) or `signal` aborts (`ABORTED`).
 */
export async function acquire(
  key: string,
  options: StoreLockOptions | undefined,
  attempt: (ttlMs: number) => Promise<AcquireAttempt>,
  waiters?: { registry: LockWaiters; id: string },
): Promise<Lease> {
  const { ttlMs, waitMs, signal } = lockOptions(options);
  const deadline = Date.now() + waitMs;
  let pause = FIRST_POLL_MS;
  for (;;) {
    if (signal?.aborted) throw new AbortError(`Waiting for the lock on "${key}" was aborted`, { cause: signal.reason });
    const result = await attempt(ttlMs);
    if (result.lock) {
      // The caller gave up while the attempt was in flight: do not leak the lock.
      if (signal?.aborted) {
        await result.lock.release().catch(() => undefined);
        throw new AbortError(`Waiting for the lock on "${key}" was aborted`, { cause: signal.reason });
      }
      return result.lock;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new LockError('LOCK_TIMEOUT', `Timed out after ${waitMs} ms waiting for the lock on "${key}"${result.holder ? ` (held by ${result.holder})` : ''}; raise waitMs or find out why the holder keeps it`, { retryable: true, details: { key, waitMs } });
    }
    const ms = Math.min(pause, left);
    if (waiters) await waiters.registry.wait(waiters.id, ms, signal);
    else await new LockWaiters().wait(key, ms, signal);
    pause = Math.min(Math.ceil(pause * 1.5), MAX_POLL_MS);
  }
}
