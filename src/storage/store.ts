/**
 * The storage contract. A store is a key/value repository with leases, so a
 * fleet of managers can share one set of certificates. Implementations:
 * {@link MemoryStore}, {@link FileStore}, and `RedisStore` from
 * `certpilot/storage/redis`.
 *
 * Keys are `/`-separated paths of segments made of `[A-Za-z0-9._@=+-]` (never
 * `.` or `..`); {@link assertKey} enforces it so a user-supplied name can never
 * escape a store's directory or prefix.
 */
import { ConfigError } from '../errors.js';

/** Options for {@link Store.set}. */
export interface StoreSetOptions {
  /** The value is secret (a private key): file stores write it 0600, every store may encrypt it. @default false */
  sensitive?: boolean;
}

/** Options for {@link Store.lock}. */
export interface StoreLockOptions {
  /** Lease length; the holder renews it every third of this while it holds the lock. @default 30000 */
  ttlMs?: number;
  /** How long to wait for a lock someone else holds before failing with `LOCK_TIMEOUT`. @default 120000 */
  waitMs?: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** A held lock. The store renews its lease until {@link StoreLock.release} is called. */
export interface StoreLock {
  /** The locked key. */
  readonly key: string;
  /** Random owner token; only the holder of this token may release the lock. */
  readonly token: string;
  /** Aborted when the lease could not be renewed (another owner took it over). */
  readonly lost: AbortSignal;
  /** Releases the lock. Rejects with `LOCK_NOT_OWNED` when the lease was taken over by another owner. */
  release(): Promise<void>;
}

/**
 * A key/value store with leases. Obligations of every implementation:
 * - `set` is atomic: a reader sees the old value or the new one, never a mix;
 *   a failed `set` leaves the old value in place.
 * - `get` of a missing key resolves to `undefined`.
 * - `list(prefix)` returns every key below `prefix` (recursive), sorted.
 * - `delete` of a missing key is not an error.
 * - `lock` excludes every other owner (in any process sharing the store)
 *   until released or until its lease expires without renewal; an expired
 *   lease is taken over.
 * - `setPointer`/`getPointer` atomically switch a named pointer to a sibling
 *   key prefix (FileStore: a `current` symlink that other programs can read).
 *
 * @example
 * ```ts
 * const store: Store = new MemoryStore();
 * await store.set('a/b', 'value');
 * const lock = await store.lock('orders/api');
 * try { … } finally { await lock.release(); }
 * ```
 */
export interface Store {
  /** A short name for logs and errors (`memory`, `file`, `redis`). */
  readonly kind: string;
  get(key: string): Promise<Buffer | undefined>;
  set(key: string, value: Buffer | string, options?: StoreSetOptions): Promise<void>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
  lock(key: string, options?: StoreLockOptions): Promise<StoreLock>;
  /**
   * The names directly below `prefix` (values, folders and pointers), sorted. Optional: it spares
   * listing every key of every certificate version when only the names are wanted; callers fall back to `list`.
   */
  children?(prefix: string): Promise<string[]>;
  /** Atomically points `key` at `target` (a key prefix relative to the pointer's parent). */
  setPointer(key: string, target: string): Promise<void>;
  /** The target of a pointer, or `undefined`. */
  getPointer(key: string): Promise<string | undefined>;
  /**
   * Subscribes to changes below `prefix` made by any instance sharing the
   * store (optional: managers fall back to periodic re-reads). Returns an unsubscribe function.
   */
  watch?(prefix: string, listener: (key: string) => void): () => void;
  /** Releases connections and timers. */
  close?(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9._@=+-]+$/;

/** Throws a typed error unless `key` is a safe store key (see {@link Store}). */
export function assertKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
    throw new ConfigError('INVALID_NAME', `Store key must be a non-empty string of at most 1024 characters, got ${JSON.stringify(key)}`);
  }
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..' || !SEGMENT.test(segment)) {
      throw new ConfigError(
        'INVALID_NAME',
        `Store key ${JSON.stringify(key)} has an invalid segment ${JSON.stringify(segment)}: use letters, digits and . _ @ = + - only`,
      );
    }
  }
}
