/**
 * Change notifications for {@link RedisStore.watch}: every write publishes
 * the changed key on `<prefix>changes`; this feed holds one dedicated
 * subscriber connection (a connection in subscribe mode can run no other
 * command) and fans messages out to the local listeners.
 *
 * Pub/sub is fire-and-forget: a message published while the subscriber is
 * reconnecting is lost. Two things make up for it:
 * - on every `ready` the feed subscribes again (idempotent, and it does not
 *   depend on the client's `autoResubscribe` setting), and after a reconnect
 *   it re-announces every pointer below each watched prefix, so a manager
 *   re-reads the `current` version of every certificate at once;
 * - the manager's periodic re-read stays as the last fallback.
 */
import type { RedisClient } from './redis-client.js';

/** What the feed needs from its store. */
export interface ChangeFeedOptions {
  /** The pub/sub channel (`<prefix>changes`). */
  channel: string;
  /** Opens the dedicated subscriber connection (a duplicate of the store's client). */
  connect(): Promise<RedisClient>;
  /** Pointer keys below `prefix`, re-announced after a reconnect. */
  pointers(prefix: string): Promise<string[]>;
}

interface Watcher {
  prefix: string;
  listener: (key: string) => void;
}

/** One subscriber connection shared by every `watch()` of a store. */
export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  readonly #watchers = new Set<Watcher>();
  #subscriber: Promise<RedisClient | undefined> | undefined;
  #closed = false;
  /** Why the last subscribe or replay failed (diagnostics; reconnecting is ioredis' job). */
  lastError: Error | undefined;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
  }

  /** Adds a listener for keys below `prefix` (`''` = all); connects on first use. Returns the unsubscribe function. */
  add(prefix: string, listener: (key: string) => void): () => void {
    const watcher = { prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`, listener };
    this.#watchers.add(watcher);
    this.#subscriber ??= this.#start();
    return () => { this.#watchers.delete(watcher); };
  }

  /** Quits the subscriber connection (it is always ours, even when the store's client is the user's). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watchers.clear();
    const subscriber = await this.#subscriber?.catch(() => undefined);
    if (!subscriber) return;
    await Promise.race([subscriber.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    subscriber.disconnect();
  }

  async #start(): Promise<RedisClient | undefined> {
    let subscriber: RedisClient;
    try {
      subscriber = await this.#options.connect();
    } catch (error) {
      this.lastError = error as Error;
      this.#subscriber = undefined; // the next watch() tries again
      return undefined;
    }
    if (this.#closed) {
      subscriber.disconnect();
      return undefined;
    }
    // Without a listener ioredis prints every connection error to the console.
    subscriber.on('error', (error: Error) => { this.lastError = error; });
    subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.#options.channel) this.#dispatch(key);
    });
    let connectedBefore = false;
    const subscribe = () => {
      subscriber.subscribe(this.#options.channel).catch((error: Error) => { this.lastError = error; });
    };
    subscriber.on('ready', () => {
      subscribe();
      if (connectedBefore) void this.#replay();
      connectedBefore = true;
    });
    // Already connected (a fast duplicate) or still connecting: subscribing now is queued either way.
    if ((subscriber as { status?: string }).status === 'ready') connectedBefore = true;
    subscribe();
    return subscriber;
  }

  /** Re-announces pointers so changes missed while disconnected are picked up now, not at the next periodic re-read. */
  async #replay(): Promise<void> {
    const prefixes = new Set([...this.#watchers].map((w) => w.prefix));
    for (const prefix of prefixes) {
      try {
        for (const key of await this.#options.pointers(prefix)) this.#dispatch(key);
      } catch (error) {
        this.lastError = error as Error;
      }
    }
  }

  #dispatch(key: string): void {
    if (this.#closed) return;
    for (const { prefix, listener } of this.#watchers) {
      if (prefix !== '' && !key.startsWith(prefix)) continue;
      try {
        listener(key);
      } catch {
        // A throwing listener is its owner's problem; it must not starve the others.
      }
    }
  }
}
