/**
 * `certpilot/storage/redis`: a {@link Store} on Redis, so a fleet of
 * managers shares one repository of certificates, orders each name once and
 * learns of every rotation at once.
 *
 * Layout below the prefix (default `certpilot:`):
 *
 * | Redis key                  | type   | holds                                            |
 * |----------------------------|--------|--------------------------------------------------|
 * | `<prefix>v:<key>`          | string | a value (binary-safe)                            |
 * | `<prefix>p:<key>`          | string | a pointer's target                               |
 * | `<prefix>lock:<key>`       | string | a lock: `{token,host,pid}` JSON, with a PX expiry |
 * | `<prefix>index:values`     | zset   | every value key (score 0, ordered by name)       |
 * | `<prefix>index:pointers`   | zset   | every pointer key                                |
 * | channel `<prefix>changes`  | pubsub | the key of every change                          |
 *
 * Listing uses the index sets with ZRANGEBYLEX instead of SCAN: SCAN walks
 * the whole database (every other application's keys too) and may return a
 * key twice, while a range read costs O(log n + m) and comes back sorted.
 * Each write changes value and index in one MULTI/EXEC, so the index never
 * disagrees with the values, and then publishes the key.
 *
 * Only commands every Redis-protocol server has are used (GET/SET/DEL,
 * ZADD/ZREM/ZRANGEBYLEX, PEXPIRE, PTTL, MULTI/EXEC, EVALSHA/EVAL with
 * declared keys, PUBLISH/SUBSCRIBE; no modules, nothing newer than Redis
 * 2.8.9), so Valkey, Dragonfly and KeyDB serve it as Redis does. The test
 * suite runs against redis-server 7.0.
 */
import type { Redis } from 'ioredis';
import { ConfigError, StoreError } from '../errors.js';
import type { Lease } from './lease.js';
import {
  DEFAULT_REDIS_URL, exec, loadIoredis, redisError, resolveConnection, withTimeout,
  type RedisClient, type RedisConnectionOptions, type ResolvedConnection,
} from './redis-client.js';
import { takeLock } from './redis-lock.js';
import { ChangeFeed } from './redis-watch.js';
import { assertKey, type Store, type StoreLock, type StoreLockOptions, type StoreSetOptions } from './store.js';

export type { RedisClient, RedisConnectionOptions } from './redis-client.js';

/** Options of {@link RedisStore}: where to connect (or your own `client`), the key prefix and the command timeout. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /**
   * Your own ioredis client (`new Redis(…)` or `new Redis.Cluster(…)`). The
   * store never closes it; it opens one duplicate of it for pub/sub and
   * closes that. Mutually exclusive with `url`, `username`, `password`,
   * `db`, `tls` and `redisOptions`.
   * @default a client the store creates (and closes) from the connection options
   */
  client?: RedisClient;
  /**
   * Prefix of every Redis key and of the pub/sub channel, so several
   * applications (or environments) can share one server. For Redis Cluster
   * use a hash tag such as `{certpilot}:` so all keys live in one slot.
   * @default 'certpilot:'
   */
  prefix?: string;
  /**
   * Longest wait for one command. ioredis queues commands while it
   * reconnects; without a bound, a lease renewal queued during an outage
   * would wait forever instead of letting the lease be declared lost.
   * @default 10000
   */
  commandTimeoutMs?: number;
}

/** Default key prefix. */
export const DEFAULT_REDIS_PREFIX = 'certpilot:';

/**
 * A {@link Store} on any Redis-protocol server, for fleets: one order per
 * name across every instance, and change notifications over pub/sub so
 * followers switch certificates within a round trip.
 *
 * Locks follow the single-instance Redis pattern: `SET key token NX PX ttl`
 * to take, a Lua compare-and-PEXPIRE every third of the TTL to renew (a
 * failed renewal aborts `lost`), a Lua compare-and-delete to release (a
 * non-owner gets `LOCK_NOT_OWNED` and deletes nothing); an expired lock has
 * simply vanished, so takeover needs no extra step. Against a replicated
 * setup a failover can lose a just-written lock (as with every Redis lock
 * short of Redlock); the cost is at worst a duplicate order, never a
 * corrupted store, because versions are written before the pointer moves.
 *
 * Pointers are plain keys: `get()` does not read through them (the
 * certificate repository resolves `current` with `getPointer`). ioredis is
 * imported on first use, unless you pass `client`.
 *
 * @example
 * ```ts
 * import { CertificateManager } from 'certpilot';
 * import { RedisStore } from 'certpilot/storage/redis';
 *
 * const store = new RedisStore({ url: 'rediss://redis.internal:6380', username: 'certpilot', password: process.env.REDIS_PASSWORD });
 * const manager = new CertificateManager({ store, issuer }); // or without issuer: a follower
 * manager.monitor();
 * // …
 * await manager.close();
 * await store.close();
 * ```
 */
export class RedisStore implements Store {
  /** Always `redis`. */
  readonly kind = 'redis';
  /** The key prefix in use. */
  readonly prefix: string;
  readonly #userClient: RedisClient | undefined;
  readonly #connection: ResolvedConnection | undefined;
  readonly #target: string;
  readonly #timeoutMs: number;
  readonly #feed: ChangeFeed;
  readonly #held = new Set<Lease>();
  #client: Promise<RedisClient> | undefined;
  #closed = false;
  /** Last connection error of a client this store created (diagnostics; reconnecting is ioredis' job). */
  lastError: Error | undefined;

  constructor(options: RedisStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('INVALID_OPTIONS', 'RedisStore needs an options object, e.g. { url: "redis://127.0.0.1:6379" }');
    const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    if (typeof prefix !== 'string' || prefix.length > 256 || /\s/.test(prefix)) {
      throw new ConfigError('INVALID_OPTIONS', `RedisStore: prefix must be a string of at most 256 characters without spaces, got ${JSON.stringify(prefix)}`);
    }
    const timeout = options.commandTimeoutMs ?? 10_000;
    if (!Number.isFinite(timeout) || timeout <= 0) throw new ConfigError('INVALID_OPTIONS', `RedisStore: commandTimeoutMs must be a positive number, got ${timeout}`);
    this.prefix = prefix;
    this.#timeoutMs = timeout;
    if (options.client) {
      const clash = (['url', 'username', 'password', 'db', 'tls', 'redisOptions'] as const).filter((k) => options[k] !== undefined);
      if (clash.length) throw new ConfigError('INVALID_OPTIONS', `RedisStore: pass either \`client\` or connection options, not both (got client and ${clash.join(', ')})`);
      if (typeof (options.client as Partial<Redis>).multi !== 'function') throw new ConfigError('INVALID_OPTIONS', 'RedisStore: `client` must be an ioredis client (new Redis(…) or new Redis.Cluster(…))');
      this.#userClient = options.client;
      this.#target = 'redis (your client)';
    } else {
      this.#connection = resolveConnection(options);
      this.#target = this.#connection.target;
    }
    this.#feed = new ChangeFeed({
      channel: `${prefix}changes`,
      connect: async () => duplicate(await this.#redis()),
      pointers: (p) => this.#range('pointers', p.endsWith('/') ? p.slice(0, -1) : p),
    });
  }

  /** The value at `key` (bytes exactly as written), or `undefined`. */
  async get(key: string): Promise<Buffer | undefined> {
    assertKey(key);
    const value = await this.#run('read', key, (c) => c.getBuffer(this.#k('v', key)));
    return value ?? undefined;
  }

  /** Writes `value` at `key` (replacing a pointer there) in one transaction, then announces the change. */
  async set(key: string, value: Buffer | string, _options?: StoreSetOptions): Promise<void> {
    assertKey(key);
    await this.#run('write', key, (c) => exec(c.multi()
      .set(this.#k('v', key), value)
      .del(this.#k('p', key))
      .zadd(this.#k('index', 'values'), 0, key)
      .zrem(this.#k('index', 'pointers'), key)));
    await this.#announce(key);
  }

  /** Removes the value or pointer at `key`; announces it when something was removed. */
  async delete(key: string): Promise<void> {
    assertKey(key);
    const results = await this.#run('delete', key, (c) => exec(c.multi()
      .del(this.#k('v', key), this.#k('p', key))
      .zrem(this.#k('index', 'values'), key)
      .zrem(this.#k('index', 'pointers'), key)));
    if (Number(results[0]) > 0) await this.#announce(key);
  }

  /** Keys of values below `prefix` (`''` for all), sorted; pointers are not listed. */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertKey(base);
    return this.#range('values', base);
  }

  /** Points `key` at `target` (replacing a value there) in one transaction, then announces the change. */
  async setPointer(key: string, target: string): Promise<void> {
    assertKey(key);
    assertKey(target);
    await this.#run('write pointer', key, (c) => exec(c.multi()
      .set(this.#k('p', key), target)
      .del(this.#k('v', key))
      .zadd(this.#k('index', 'pointers'), 0, key)
      .zrem(this.#k('index', 'values'), key)));
    await this.#announce(key);
  }

  /** The target of the pointer at `key`, or `undefined`. */
  async getPointer(key: string): Promise<string | undefined> {
    assertKey(key);
    return (await this.#run('read pointer', key, (c) => c.get(this.#k('p', key)))) ?? undefined;
  }

  /**
   * Takes the lock on `key` across every instance on this server and prefix
   * (see the class notes). Waits by polling (10 ms growing to 250 ms);
   * waiters in this process wake the moment a lock is released.
   */
  async lock(key: string, options?: StoreLockOptions): Promise<StoreLock> {
    assertKey(key);
    this.#assertOpen(`lock "${key}"`);
    return takeLock({
      key,
      lockKey: this.#k('lock', key),
      wakeId: `${this.#target}\n${this.#k('lock', key)}`,
      commandTimeoutMs: this.#timeoutMs,
      held: this.#held,
      run: (operation, command, timeoutMs, evenIfClosed) => this.#run(operation, key, command, timeoutMs, evenIfClosed),
    }, options);
  }

  /**
   * Calls `listener` with the key of every change below `prefix` (`''` for
   * all) made by any instance on this server and prefix, this one included.
   * Opens one subscriber connection on first use. See redis-watch.ts for
   * what happens across reconnects.
   */
  watch(prefix: string, listener: (key: string) => void): () => void {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertKey(base);
    this.#assertOpen('watch');
    return this.#feed.add(prefix, listener);
  }

  /**
   * Releases the locks this store holds, closes the subscriber and the
   * connection the store created. A client you passed in stays open.
   * Later calls fail with `CLOSED`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Releasing runs even though the store now refuses new work (see #run's evenIfClosed).
    await Promise.allSettled([...this.#held].map((lease) => lease.release()));
    await this.#feed.close();
    if (this.#userClient || !this.#client) return;
    const client = await this.#client.catch(() => undefined);
    if (!client) return;
    await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    client.disconnect();
  }

  /**
   * Publishes `key` after its transaction committed. PUBLISH stays outside
   * MULTI (not every Redis-protocol server accepts it there), and its failure
   * is only recorded: the write did happen, so failing it would break the
   * "a failed set leaves the old value" promise; watchers fall back to their
   * periodic re-read.
   */
  async #announce(key: string): Promise<void> {
    try {
      await this.#run('announce', key, (c) => c.publish(this.#channel, key));
    } catch (error) {
      this.lastError = error as Error;
    }
  }

  get #channel(): string {
    return `${this.prefix}changes`;
  }

  #k(kind: 'v' | 'p' | 'lock' | 'index', key: string): string {
    return `${this.prefix}${kind}:${key}`;
  }

  /** Members of an index below `base` (`''` = all), sorted by the server. */
  #range(index: 'values' | 'pointers', base: string): Promise<string[]> {
    // Keys below `a` are `a/…`; '0' is the character after '/', so `(a0` bounds them from above.
    const [min, max] = base === '' ? ['-', '+'] : [`[${base}/`, `(${base}0`];
    return this.#run('list', base || undefined, (c) => c.zrangebylex(this.#k('index', index), min, max));
  }

  /** The client, created (and ioredis imported) on first use. */
  #redis(): Promise<RedisClient> {
    if (this.#userClient) return Promise.resolve(this.#userClient);
    this.#client ??= loadIoredis().then((Redis) => {
      const client = new Redis(this.#connection!.options);
      // Without a listener ioredis prints each connection error; we keep the last one instead.
      client.on('error', (error: Error) => { this.lastError = error; });
      return client;
    }).catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  /** Runs one command (or transaction) with a bounded wait, as a typed error naming the operation, never its arguments. */
  async #run<T>(operation: string, key: string | undefined, command: (client: RedisClient) => Promise<T>, timeoutMs = this.#timeoutMs, evenIfClosed = false): Promise<T> {
    if (!evenIfClosed) this.#assertOpen(key === undefined ? operation : `${operation} "${key}"`);
    try {
      const client = await this.#redis();
      return await withTimeout(command(client), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms${this.lastError ? ` (last connection error: ${this.lastError.message})` : ''}`));
    } catch (error) {
      throw redisError(operation, key, this.#target, error);
    }
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new StoreError('CLOSED', `The Redis store is closed; cannot ${what}`);
  }
}

/** A second connection with the same settings, for subscribe mode. */
function duplicate(client: RedisClient): RedisClient {
  return (client as Redis).duplicate();
}

export { DEFAULT_REDIS_URL };
