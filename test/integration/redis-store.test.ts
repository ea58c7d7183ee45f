/**
 * RedisStore against a real redis-server: the shared store conformance
 * suite, the key layout, locks seen from raw Redis, pub/sub change
 * notifications, reconnects after a server restart, ACL credentials that
 * never leak into errors, and `close()` leaving a user's client alone.
 */
import { randomUUID } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../src/errors.js';
import { EncryptedStore } from '../../src/storage/encrypted.js';
import { RedisStore } from '../../src/storage/redis.js';
import { loadIoredis } from '../../src/storage/redis-client.js';
import { describeStoreConformance, expectCode } from '../helpers/store-conformance.js';
import { startRedis, type Redis } from '../helpers/redis.js';

let redis: Redis;
let raw: IORedis;
const opened: Array<{ close(): Promise<unknown> }> = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
  raw = new IORedis(redis.url, { lazyConnect: false });
  raw.on('error', () => undefined);
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});
afterEach(async () => {
  for (const store of opened.splice(0).reverse()) await store.close().catch(() => undefined);
});

/** A store on a fresh prefix, closed after the test. */
function newStore(prefix = `t-${randomUUID().slice(0, 8)}:`, extra: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): RedisStore {
  const store = new RedisStore({ url: redis.url, prefix, ...extra });
  opened.push(store);
  return store;
}

/** Resolves once `check()` is true, polling every 20 ms, or fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Subscribers on a store's change channel, as the server counts them. */
async function subscribers(prefix: string): Promise<number> {
  const reply = (await raw.pubsub('NUMSUB', `${prefix}changes`)) as [string, number];
  return Number(reply[1]);
}

describeStoreConformance('RedisStore', () => {
  const prefix = `conf-${randomUUID().slice(0, 8)}:`;
  const peers: RedisStore[] = [];
  return {
    store: new RedisStore({ url: redis.url, prefix }),
    // A second store (its own connection) on the same prefix stands in for a second process.
    peer: () => { const peer = new RedisStore({ url: redis.url, prefix }); peers.push(peer); return peer; },
    cleanup: async () => {
      await Promise.all(peers.map((peer) => peer.close()));
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
    },
  };
});

// Encryption at rest works on every store: the same suite through EncryptedStore on Redis.
describeStoreConformance('EncryptedStore(RedisStore)', () => {
  const prefix = `enc-${randomUUID().slice(0, 8)}:`;
  const key = Buffer.alloc(32, 5);
  const peers: RedisStore[] = [];
  return {
    store: new EncryptedStore(new RedisStore({ url: redis.url, prefix }), { key }),
    peer: () => { const peer = new RedisStore({ url: redis.url, prefix }); peers.push(peer); return new EncryptedStore(peer, { key }); },
    cleanup: async () => {
      await Promise.all(peers.map((peer) => peer.close()));
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length) await raw.del(...keys);
    },
  };
});

describe('RedisStore layout', () => {
  it('keeps values, pointers and index sets under its prefix, binary-safe', async () => {
    const store = newStore('layout:');
    const bytes = Buffer.from([0, 255, 13, 10, 0x80]);
    await store.set('certificates/api/v1/key.pem', bytes, { sensitive: true });
    await store.setPointer('certificates/api/current', 'v1');
    expect(await raw.getBuffer('layout:v:certificates/api/v1/key.pem')).toEqual(bytes);
    expect(await raw.get('layout:p:certificates/api/current')).toBe('v1');
    expect(await raw.zrange('layout:index:values', 0, -1)).toEqual(['certificates/api/v1/key.pem']);
    expect(await raw.zrange('layout:index:pointers', 0, -1)).toEqual(['certificates/api/current']);
    // A value written where a pointer was replaces it, in both the keys and the indexes.
    await store.set('certificates/api/current', 'plain');
    expect(await raw.exists('layout:p:certificates/api/current')).toBe(0);
    expect(await raw.zrange('layout:index:pointers', 0, -1)).toEqual([]);
    await store.delete('certificates/api/current');
    await store.delete('certificates/api/v1/key.pem');
    expect((await raw.keys('layout:*')).sort()).toEqual([]);
  });

  it('separates prefixes: two stores on one server see only their own keys', async () => {
    const a = newStore('tenant-a:');
    const b = newStore('tenant-b:');
    await a.set('x/1', 'a');
    await b.set('x/2', 'b');
    expect(await a.list('')).toEqual(['x/1']);
    expect(await b.list('x')).toEqual(['x/2']);
    expect(await b.get('x/1')).toBeUndefined();
  });

  it('refuses bad options without echoing a URL that may hold a password', () => {
    const error = (() => { try { new RedisStore({ url: 'redis://user:hunter2@[bad' }); } catch (e) { return e as Error; } return undefined; })();
    expect(isCertpilotError(error) && error.code).toBe('INVALID_OPTIONS');
    expect(error!.message).not.toContain('hunter2');
    expect(() => new RedisStore({ url: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => new RedisStore({ client: raw, url: redis.url })).toThrow(/either `client` or connection options/);
    expect(() => new RedisStore({ prefix: 'has space' })).toThrow(/prefix/);
  });
});

describe('RedisStore locks in Redis', () => {
  it('stores a random token with a PX expiry, renews it, and deletes it on release', async () => {
    const store = newStore('locks:');
    const lock = await store.lock('certificates/api', { ttlMs: 600 });
    const value = JSON.parse((await raw.get('locks:lock:certificates/api'))!) as { token: string; pid: number };
    expect(value.token).toBe(lock.token);
    expect(value.pid).toBe(process.pid);
    expect(await raw.pttl('locks:lock:certificates/api')).toBeGreaterThan(400);
    await sleep(900); // past the first TTL: renewed every 200 ms
    expect(await raw.pttl('locks:lock:certificates/api')).toBeGreaterThan(200);
    await lock.release();
    expect(await raw.exists('locks:lock:certificates/api')).toBe(0);
  });

  it('waits for a lock held by someone else, names the holder, and takes it over when it expires', async () => {
    const store = newStore('foreign:');
    await raw.set('foreign:lock:orders/x', JSON.stringify({ token: 'other', host: 'elsewhere', pid: 4242 }), 'PX', 400);
    const error = await expectCode(store.lock('orders/x', { waitMs: 50 }), 'LOCK_TIMEOUT');
    expect(error.message).toContain('pid 4242 on elsewhere');
    const started = Date.now();
    const lock = await store.lock('orders/x', { waitMs: 2000 });
    expect(Date.now() - started).toBeGreaterThan(200);
    await lock.release();
  });

  it('refuses to release a lock another owner replaced, leaving theirs in place', async () => {
    const store = newStore('stolen:');
    const lock = await store.lock('k', { ttlMs: 5000 });
    await raw.set('stolen:lock:k', 'someone-else', 'PX', 5000);
    await expectCode(lock.release(), 'LOCK_NOT_OWNED');
    expect(await raw.get('stolen:lock:k')).toBe('someone-else');
  });

  it('aborts `lost` when a server restart wiped the lock', async () => {
    const store = newStore('wiped:');
    const lock = await store.lock('k', { ttlMs: 1500 });
    await redis.restart(); // no persistence: the lock is gone
    await until(() => lock.lost.aborted, 5000, 'lost to abort');
    expect(isCertpilotError(lock.lost.reason) && lock.lost.reason.code).toBe('LOCK_NOT_OWNED');
    // The store itself works again, and the lock can be taken anew.
    await (await store.lock('k', { waitMs: 0 })).release();
  });
});

describe('RedisStore watch', () => {
  it('delivers set, setPointer and delete of any instance to watchers below the prefix', async () => {
    const prefix = `watch-${randomUUID().slice(0, 8)}:`;
    const watcher = newStore(prefix);
    const writer = newStore(prefix);
    const seen: string[] = [];
    const all: string[] = [];
    const stop = watcher.watch('certificates/api', (key) => seen.push(key));
    watcher.watch('', (key) => all.push(key));
    watcher.watch('', () => { throw new Error('a broken listener'); });
    await until(async () => (await subscribers(prefix)) === 1, 5000, 'the subscriber');
    await writer.set('certificates/api/v1/cert.pem', 'c');
    await writer.set('certificates/apiother/x', 'not below certificates/api/');
    await writer.setPointer('certificates/api/current', 'v1');
    await writer.delete('certificates/api/v1/cert.pem');
    await writer.delete('certificates/api/missing'); // nothing removed: nothing announced
    await until(() => all.length >= 4, 2000, 'notifications');
    await sleep(50);
    expect(seen).toEqual(['certificates/api/v1/cert.pem', 'certificates/api/current', 'certificates/api/v1/cert.pem']);
    expect(all).toHaveLength(4);
    stop();
    await writer.set('certificates/api/v2/cert.pem', 'c');
    await until(() => all.length === 5, 2000, 'the fifth notification');
    expect(seen).toHaveLength(3);
  });

  it('opens one subscriber per store, a duplicate of a user client, and never closes the user client', async () => {
    const prefix = `own-${randomUUID().slice(0, 8)}:`;
    const client = new IORedis(redis.url);
    const store = new RedisStore({ client, prefix });
    const seen: string[] = [];
    store.watch('a', (key) => seen.push(key));
    store.watch('b', (key) => seen.push(key));
    await until(async () => (await subscribers(prefix)) === 1, 5000, 'one subscriber');
    await store.set('a/1', 'x');
    await until(() => seen.length === 1, 2000, 'a notification');
    await store.close();
    expect(await subscribers(prefix)).toBe(0);
    expect(await client.ping()).toBe('PONG'); // still usable
    await expectCode(store.get('a/1'), 'CLOSED');
    client.disconnect();
  });

  it('reconnects after a server restart: commands work again and watchers get changes', async () => {
    const prefix = `restart-${randomUUID().slice(0, 8)}:`;
    const watcher = newStore(prefix);
    const writer = newStore(prefix);
    const seen: string[] = [];
    watcher.watch('certificates/', (key) => seen.push(key));
    await until(async () => (await subscribers(prefix)) === 1, 5000, 'the subscriber');
    await writer.set('certificates/api/v1/cert.pem', 'before');
    await until(() => seen.length === 1, 2000, 'the first notification');

    await redis.restart();
    // A command issued while ioredis reconnects is queued and answered, not failed.
    await writer.set('certificates/api/v2/cert.pem', 'after');
    expect((await watcher.get('certificates/api/v2/cert.pem'))?.toString()).toBe('after');
    await until(async () => (await subscribers(prefix)) === 1, 10_000, 'the subscriber to come back');
    seen.length = 0;
    const started = Date.now();
    await writer.setPointer('certificates/api/current', 'v2');
    await until(() => seen.includes('certificates/api/current'), 2000, 'a notification after the restart');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('re-announces pointers after the subscriber reconnects, so changes it missed are not lost', async () => {
    const prefix = `replay-${randomUUID().slice(0, 8)}:`;
    const watcher = newStore(prefix);
    const seen: string[] = [];
    watcher.watch('certificates/', (key) => seen.push(key));
    await until(async () => (await subscribers(prefix)) === 1, 5000, 'the subscriber');
    // Written behind the store's back: no message was ever published.
    await raw.multi().set(`${prefix}p:certificates/api/current`, 'v7').zadd(`${prefix}index:pointers`, 0, 'certificates/api/current').exec();
    await raw.client('KILL', 'TYPE', 'pubsub');
    await until(() => seen.includes('certificates/api/current'), 10_000, 'the replayed pointer');
  });
});

/** Commands RedisStore (and ioredis on connect) sends; the ACL example in docs/fleets.md lists the same. */
const ACL_COMMANDS = ['get', 'set', 'del', 'zadd', 'zrem', 'zrangebylex', 'pexpire', 'pttl', 'multi', 'exec', 'evalsha', 'eval',
  'publish', 'subscribe', 'unsubscribe', 'ping', 'info', 'client|setname', 'quit'];

describe('RedisStore credentials', () => {
  it('authenticates with an ACL user and never puts the password in errors', async () => {
    const password = `pw-${randomUUID()}`;
    // The least-privilege rule from docs/fleets.md: only the prefix's keys, its channel, and the commands used.
    await raw.acl('SETUSER', 'certpilot-test', 'reset', 'on', `>${password}`, '~acl:*', '&acl:changes', '-@all', ...ACL_COMMANDS.map((c) => `+${c}`));
    const good = newStore('acl:', { username: 'certpilot-test', password });
    const seen: string[] = [];
    good.watch('x', (key) => seen.push(key));
    await until(async () => (await subscribers('acl:')) === 1, 5000, 'the subscriber');
    await good.set('x/1', 'ok');
    await good.setPointer('x/current', '1');
    expect((await good.get('x/1'))?.toString()).toBe('ok');
    expect(await good.getPointer('x/current')).toBe('1');
    expect(await good.list('x')).toEqual(['x/1']);
    const lock = await good.lock('x', { ttlMs: 300 });
    await sleep(450); // renewed by the Lua script (PEXPIRE inside it is checked too)
    expect(lock.lost.aborted).toBe(false);
    await lock.release();
    await good.delete('x/1');
    await until(() => seen.length === 3, 2000, 'notifications');
    expect(await raw.acl('LOG')).toEqual([]);

    const outside = newStore('not-acl:', { username: 'certpilot-test', password });
    const denied = await expectCode(outside.set('x/1', 'no'), 'STORE_ERROR');
    expect(denied.message).toMatch(/NOPERM/);

    const wrong = newStore('acl:', { url: `redis://certpilot-test:${password}x@127.0.0.1:${redis.port}`, commandTimeoutMs: 1500 });
    const error = await wrong.get('x/1').then(() => undefined, (e: Error) => e);
    expect(isCertpilotError(error) && error.code).toBe('STORE_ERROR');
    const text = JSON.stringify({ message: error!.message, details: (error as { details?: unknown }).details, cause: String((error as Error).cause ?? '') });
    expect(text).not.toContain(password);
    expect(error!.message).toContain(`redis://127.0.0.1:${redis.port}/0`);
  });
});

describe('RedisStore without ioredis', () => {
  it('says which package to install', async () => {
    const missing = Object.assign(new Error("Cannot find package 'ioredis' imported from …"), { code: 'ERR_MODULE_NOT_FOUND' });
    const error = await loadIoredis(() => Promise.reject(missing)).then(() => undefined, (e: Error) => e);
    expect(isCertpilotError(error) && error.code).toBe('STORE_ERROR');
    expect(error!.message).toContain('ioredis package, which is not installed: run `npm install ioredis`');
    const Redis = await loadIoredis();
    expect(Redis).toBe(IORedis);
  });
});

describe('EncryptedStore on Redis', () => {
  it('leaves only ciphertext on the server', async () => {
    const store = new EncryptedStore(newStore('sealed:'), { key: EncryptedStore.generateKey(), keyId: 'k1' });
    const pem = '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n';
    await store.set('certificates/api/v1/key.pem', pem, { sensitive: true });
    const stored = (await raw.getBuffer('sealed:v:certificates/api/v1/key.pem'))!;
    expect(stored.toString('latin1')).not.toContain('PRIVATE KEY');
    expect(stored.subarray(0, 4).toString('latin1')).toBe('cpe\x01');
    expect((await store.get('certificates/api/v1/key.pem'))?.toString()).toBe(pem);
  });
});
