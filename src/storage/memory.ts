/**
 * An in-process store: the default for tests and for single-process
 * deployments that re-issue on restart. It follows {@link FileStore}'s
 * semantics closely (pointers are resolved on read, like symlinks) so code
 * tested against it behaves the same on disk.
 */
import { randomUUID } from 'node:crypto';
import { StoreError } from '../errors.js';
import { acquire, Lease, LockWaiters } from './lease.js';
import { assertKey, type Store, type StoreLock, type StoreLockOptions, type StoreSetOptions } from './store.js';

/** A chain of pointers longer than this is a loop (the kernel's symlink limit is 40). */
const MAX_POINTER_HOPS = 40;

/**
 * A {@link Store} held in this process's memory. Values are copied in and
 * out, so callers can never mutate what is stored. Locks have the same TTL,
 * renewal, takeover and wait rules as every other store; waiters in this
 * process are woken the moment a lock is released.
 *
 * @example
 * ```ts
 * const store = new MemoryStore();
 * await store.set('certificates/api/v1/key.pem', pem, { sensitive: true });
 * await store.setPointer('certificates/api/current', 'v1');
 * const key = await store.get('certificates/api/current/key.pem'); // read through the pointer
 * ```
 */
export class MemoryStore implements Store {
  /** Always `memory`. */
  readonly kind = 'memory';
  readonly #values = new Map<string, Buffer>();
  readonly #pointers = new Map<string, string>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  readonly #held = new Set<Lease>();
  readonly #waiters = new LockWaiters();
  readonly #watchers = new Set<{ prefix: string; listener: (key: string) => void }>();
  #closed = false;

  /** A copy of the value at `key`, following pointers on the way like symlinks. */
  async get(key: string): Promise<Buffer | undefined> {
    assertKey(key);
    const value = this.#values.get(this.#resolve(key, true));
    return value === undefined ? undefined : Buffer.from(value);
  }

  /** Stores a copy of `value` (`sensitive` changes nothing in memory). */
  async set(key: string, value: Buffer | string, _options?: StoreSetOptions): Promise<void> {
    assertKey(key);
    const resolved = this.#resolve(key, false);
    // Like a file renamed over a symlink, a value replaces a pointer at the same key.
    this.#pointers.delete(resolved);
    this.#values.set(resolved, typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value));
    this.#changed(resolved);
  }

  /** Removes the value or pointer at `key`. */
  async delete(key: string): Promise<void> {
    assertKey(key);
    const resolved = this.#resolve(key, false);
    const existed = this.#values.delete(resolved) || this.#pointers.delete(resolved);
    if (existed) this.#changed(resolved);
  }

  /** Keys of values below `prefix` (`''` for all), sorted; pointers are not listed. */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertKey(base);
    const start = base === '' ? '' : `${base}/`;
    return [...this.#values.keys()].filter((key) => key.startsWith(start)).sort();
  }

  /** Points `key` at `target` (relative to the pointer's parent), replacing a value at `key`. */
  async setPointer(key: string, target: string): Promise<void> {
    assertKey(key);
    assertKey(target);
    const resolved = this.#resolve(key, false);
    this.#values.delete(resolved);
    this.#pointers.set(resolved, target);
    this.#changed(resolved);
  }

  /** The target of the pointer at `key`, or `undefined`. */
  async getPointer(key: string): Promise<string | undefined> {
    assertKey(key);
    return this.#pointers.get(this.#resolve(key, false));
  }

  /** Takes the lock on `key` (exclusive within this process); waiters wake the moment it is released. */
  async lock(key: string, options?: StoreLockOptions): Promise<StoreLock> {
    assertKey(key);
    if (this.#closed) throw new StoreError('CLOSED', `The memory store is closed; cannot lock "${key}"`);
    return acquire(key, options, async (ttlMs) => {
      const now = Date.now();
      const current = this.#locks.get(key);
      if (current && current.expiresAt > now) return { holder: 'another owner in this process' };
      const token = randomUUID();
      const entry = { token, expiresAt: now + ttlMs };
      this.#locks.set(key, entry);
      const lease: Lease = new Lease({
        key, token, ttlMs, expiresAt: entry.expiresAt,
        backend: {
          renew: async (expiresAt) => {
            const mine = this.#locks.get(key);
            if (mine?.token !== token) return false;
            mine.expiresAt = expiresAt;
            return true;
          },
          release: async () => {
            if (this.#locks.get(key)?.token !== token) return false;
            this.#locks.delete(key);
            this.#waiters.notify(key);
            return true;
          },
        },
        onEnd: (ended) => this.#held.delete(ended),
      });
      this.#held.add(lease);
      return { lock: lease };
    }, { registry: this.#waiters, id: key });
  }

  /** Calls `listener` (asynchronously) with the key of every change below `prefix` (`''` for all). */
  watch(prefix: string, listener: (key: string) => void): () => void {
    const entry = { prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`, listener };
    this.#watchers.add(entry);
    return () => { this.#watchers.delete(entry); };
  }

  /** Releases every lock this store still holds; later `lock` calls fail with `CLOSED`. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#held].map((lease) => lease.release()));
    this.#watchers.clear();
  }

  /**
   * Rewrites pointer prefixes the way the kernel follows symlinks: every
   * parent segment always, the last one only when reading (`get` follows a
   * pointer to a value; `set`, `delete` and `setPointer` act on the pointer itself).
   */
  #resolve(key: string, followLast: boolean): string {
    let segments = key.split('/');
    for (let hops = 0; hops <= MAX_POINTER_HOPS; hops++) {
      const end = followLast ? segments.length : segments.length - 1;
      let i = 1;
      for (; i <= end; i++) {
        const target = this.#pointers.get(segments.slice(0, i).join('/'));
        if (target !== undefined) {
          segments = [...segments.slice(0, i - 1), ...target.split('/'), ...segments.slice(i)];
          break;
        }
      }
      if (i > end) return segments.join('/');
    }
    throw new StoreError('STORE_ERROR', `Too many pointer hops resolving "${key}" (a pointer loop?)`, { details: { key } });
  }

  #changed(key: string): void {
    for (const { prefix, listener } of this.#watchers) {
      if (prefix !== '' && !key.startsWith(prefix)) continue;
      // A throwing listener must not fail the write that triggered it.
      queueMicrotask(() => { try { listener(key); } catch { /* listener's own problem */ } });
    }
  }
}
