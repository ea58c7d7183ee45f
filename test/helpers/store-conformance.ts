/**
 * The obligations of every {@link Store} (see src/storage/store.ts), as one
 * reusable suite. Each store's test file calls
 * `describeStoreConformance('FileStore', factory)`; a new store is done when
 * this suite passes against it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../src/errors.js';
import { suspendRenewal } from '../../src/storage/lease.js';
import type { Store, StoreLock } from '../../src/storage/store.js';

/** One fresh, empty store for one test. */
export interface StoreConformanceFixture {
  store: Store;
  /**
   * Another handle on the same data, as a second process would open it
   * (a second FileStore on the same directory, a second Redis client on the
   * same prefix). A store that cannot be shared returns `store` itself.
   */
  peer(): Store | Promise<Store>;
  /**
   * Makes the holder of `lock` stop renewing as if its process had frozen;
   * returns a function that resumes renewal.
   * @default suspendRenewal from src/storage/lease.ts
   */
  suspend?(lock: StoreLock): () => void;
  /** Called after the test (remove directories, flush Redis, …). */
  cleanup?(): Promise<void>;
}

/** Optional behaviours a store may promise. */
export interface StoreConformanceOptions {
  /** `get('x/current/file')` follows the pointer `x/current` like a symlink. @default false */
  readsThroughPointers?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asserts that `promise` rejects with a certpilot error of `code`; returns it. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!isCertpilotError(error)) throw new Error(`expected a certpilot error ${code}, got ${String(error)}`);
  expect(error.code).toBe(code);
  return error;
}

/** Registers the shared store suite. `factory` is called once per test. */
export function describeStoreConformance(
  name: string,
  factory: () => StoreConformanceFixture | Promise<StoreConformanceFixture>,
  options: StoreConformanceOptions = {},
): void {
  describe(`${name} conformance`, () => {
    const fixtures: StoreConformanceFixture[] = [];
    const open = async () => {
      const fixture = await factory();
      fixtures.push(fixture);
      return fixture;
    };
    afterEach(async () => {
      for (const fixture of fixtures.splice(0)) {
        await fixture.store.close?.();
        await fixture.cleanup?.();
      }
    });

    it('gets undefined for a missing key and round-trips strings and bytes', async () => {
      const { store } = await open();
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.get('missing/deeper/key')).toBeUndefined();
      await store.set('a/text', 'héllo');
      const bytes = Buffer.from([0, 255, 10, 13, 128, 1]);
      await store.set('a/bytes', bytes, { sensitive: true });
      expect((await store.get('a/text'))?.toString('utf8')).toBe('héllo');
      expect(await store.get('a/bytes')).toEqual(bytes);
      bytes[0] = 7; // the store keeps its own copy
      expect((await store.get('a/bytes'))?.[0]).toBe(0);
    });

    it('overwrites atomically: concurrent readers never see a torn or mixed value', async () => {
      const { store, peer } = await open();
      const reader = await peer();
      const size = 256 * 1024;
      // Length and fill byte both derive from i % 26, so a reader can check a value is whole.
      const value = (i: number) => Buffer.alloc(size + (i % 26) * 1024, 65 + (i % 26));
      await store.set('big/value', value(0));
      let done = false;
      let reads = 0;
      const readLoop = async () => {
        while (!done) {
          const got = await reader.get('big/value');
          expect(got).toBeDefined();
          const first = got![0]!;
          expect(got!.equals(value(first - 65))).toBe(true);
          reads++;
        }
      };
      const readers = [readLoop(), readLoop(), readLoop()];
      for (let i = 1; i <= 40; i++) await store.set('big/value', value(i));
      done = true;
      await Promise.all(readers);
      expect(reads).toBeGreaterThan(0);
      expect(await store.get('big/value')).toEqual(value(40));
    });

    it('lists recursively, sorted, limited to the prefix, values only', async () => {
      const { store } = await open();
      for (const key of ['a/b/d', 'a/e', 'a/b/c', 'ab/g', 'b/f', 'a/z/y/x']) await store.set(key, key);
      await store.lock('a/locked').then((lock) => lock.release());
      const held = await store.lock('a/held');
      expect(await store.list('a')).toEqual(['a/b/c', 'a/b/d', 'a/e', 'a/z/y/x']);
      expect(await store.list('a/')).toEqual(['a/b/c', 'a/b/d', 'a/e', 'a/z/y/x']);
      expect(await store.list('a/b')).toEqual(['a/b/c', 'a/b/d']);
      expect(await store.list('')).toEqual(['a/b/c', 'a/b/d', 'a/e', 'a/z/y/x', 'ab/g', 'b/f']);
      expect(await store.list('nothing/here')).toEqual([]);
      expect(await store.list('a/e')).toEqual([]); // a value has nothing below it
      await held.release();
    });

    it('deletes values; deleting a missing key is fine', async () => {
      const { store } = await open();
      await store.set('d/one', '1');
      await store.set('d/two', '2');
      await store.delete('d/one');
      await store.delete('d/one');
      await store.delete('never/existed');
      expect(await store.get('d/one')).toBeUndefined();
      expect(await store.list('d')).toEqual(['d/two']);
      await store.delete('d/two');
      expect(await store.list('')).toEqual([]);
      await store.set('d/one', 'again'); // a pruned parent is recreated
      expect((await store.get('d/one'))?.toString()).toBe('again');
    });

    it('switches pointers atomically and does not list through them', async () => {
      const { store, peer } = await open();
      const other = await peer();
      expect(await store.getPointer('certs/api/current')).toBeUndefined();
      await store.set('certs/api/v1/cert.pem', 'one');
      await store.set('certs/api/v2/cert.pem', 'two');
      await store.setPointer('certs/api/current', 'v1');
      expect(await other.getPointer('certs/api/current')).toBe('v1');
      await store.setPointer('certs/api/current', 'v2');
      expect(await other.getPointer('certs/api/current')).toBe('v2');
      expect(await store.list('certs')).toEqual(['certs/api/v1/cert.pem', 'certs/api/v2/cert.pem']);
      if (options.readsThroughPointers) {
        expect((await other.get('certs/api/current/cert.pem'))?.toString()).toBe('two');
      }
      await store.delete('certs/api/current');
      expect(await store.getPointer('certs/api/current')).toBeUndefined();
      expect((await store.get('certs/api/v2/cert.pem'))?.toString()).toBe('two');
    });

    it('rejects invalid keys with INVALID_NAME', async () => {
      const { store } = await open();
      for (const key of ['../x', 'a//b', '', '/abs', 'a/./b', 'a/../../b', 'a b', 'a\\b', 'x/..']) {
        await expectCode(store.get(key), 'INVALID_NAME');
        await expectCode(store.set(key, 'v'), 'INVALID_NAME');
        await expectCode(store.delete(key), 'INVALID_NAME');
        await expectCode(store.lock(key), 'INVALID_NAME');
        await expectCode(store.setPointer(key, 'v1'), 'INVALID_NAME');
        await expectCode(store.getPointer(key), 'INVALID_NAME');
        if (key !== '') await expectCode(store.list(key), 'INVALID_NAME');
      }
      await expectCode(store.setPointer('p/current', '../../etc'), 'INVALID_NAME');
    });

    it('excludes every other owner: 20 concurrent increments under a lock are exact', async () => {
      const { store, peer } = await open();
      const other = await peer();
      await store.set('counter', '0');
      const increment = async (s: Store) => {
        const lock = await s.lock('counter-lock', { ttlMs: 5000, waitMs: 30_000 });
        try {
          const value = Number((await s.get('counter'))!.toString());
          await sleep(Math.random() * 5);
          await s.set('counter', String(value + 1));
        } finally {
          await lock.release();
        }
      };
      await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 ? other : store)));
      expect((await store.get('counter'))?.toString()).toBe('20');
    });

    it('keeps a lock held past its TTL by renewing it, and locks keys independently', async () => {
      const { store, peer } = await open();
      const other = await peer();
      const lock = await store.lock('renewed', { ttlMs: 300 });
      const unrelated = await other.lock('unrelated', { ttlMs: 300, waitMs: 0 });
      await sleep(700);
      const error = await expectCode(other.lock('renewed', { waitMs: 60 }), 'LOCK_TIMEOUT');
      expect(error.message).toContain('renewed');
      expect(lock.lost.aborted).toBe(false);
      await lock.release();
      await unrelated.release();
      await (await other.lock('renewed', { waitMs: 1000 })).release();
    });

    it('times out with LOCK_TIMEOUT naming the key, and honours abort signals', async () => {
      const { store } = await open();
      const lock = await store.lock('busy/key');
      const started = Date.now();
      const error = await expectCode(store.lock('busy/key', { waitMs: 120 }), 'LOCK_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(110);
      expect(error.message).toContain('"busy/key"');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await expectCode(store.lock('busy/key', { signal: controller.signal }), 'ABORTED');
      await expectCode(store.lock('free/key', { signal: AbortSignal.abort() }), 'ABORTED');
      await lock.release();
      await lock.release(); // idempotent
      await (await store.lock('free/key', { waitMs: 0 })).release(); // the aborted attempt left nothing behind
    });

    it('takes over a stale lock; the old holder can no longer release it', async () => {
      const fixture = await open();
      const { store } = fixture;
      const other = await fixture.peer();
      const suspend = fixture.suspend ?? suspendRenewal;
      const dead = await store.lock('stale', { ttlMs: 200 });
      suspend(dead); // the holder "dies": no more renewals
      const started = Date.now();
      const taker = await other.lock('stale', { ttlMs: 5000, waitMs: 5000 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
      expect(Date.now() - started).toBeLessThan(3000);
      await expectCode(dead.release(), 'LOCK_NOT_OWNED');
      expect(dead.lost.aborted).toBe(true);
      // The refused release removed nothing: the new owner still excludes others.
      await expectCode(store.lock('stale', { waitMs: 80 }), 'LOCK_TIMEOUT');
      expect(taker.lost.aborted).toBe(false);
      await taker.release();
      await (await store.lock('stale', { waitMs: 0 })).release();
    });

    it('aborts `lost` when a holder resumes after its lease was taken over', async () => {
      const fixture = await open();
      const other = await fixture.peer();
      const suspend = fixture.suspend ?? suspendRenewal;
      const frozen = await fixture.store.lock('frozen', { ttlMs: 150 });
      const resume = suspend(frozen);
      const taker = await other.lock('frozen', { ttlMs: 5000, waitMs: 5000 });
      resume();
      await sleep(100);
      expect(frozen.lost.aborted).toBe(true);
      expect(isCertpilotError(frozen.lost.reason) && frozen.lost.reason.code).toBe('LOCK_NOT_OWNED');
      expect(taker.lost.aborted).toBe(false);
      await expectCode(fixture.store.lock('frozen', { waitMs: 50 }), 'LOCK_TIMEOUT');
      await taker.release();
    });
  });
}
