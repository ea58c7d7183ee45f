import { describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../../src/errors.js';
import { EncryptedStore } from '../../../src/storage/encrypted.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { describeStoreConformance, expectCode } from '../../helpers/store-conformance.js';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 9);
const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describeStoreConformance('EncryptedStore(MemoryStore)', () => {
  const inner = new MemoryStore();
  const store = new EncryptedStore(inner, { key });
  // A second wrapper with the same key on the same data, as another process would open it.
  return { store, peer: () => new EncryptedStore(inner, { key }) };
}, { readsThroughPointers: true });

describe('EncryptedStore', () => {
  it('stores ciphertext with a versioned header naming the key id, never the plaintext', async () => {
    const inner = new MemoryStore();
    const store = new EncryptedStore(inner, { key, keyId: '2025-01' });
    await store.set('certificates/api/v1/key.pem', PEM, { sensitive: true });
    const sealed = (await inner.get('certificates/api/v1/key.pem'))!;
    expect(sealed.subarray(0, 4).toString('latin1')).toBe('cpe\x01');
    expect(sealed[4]).toBe(7);
    expect(sealed.subarray(5, 12).toString()).toBe('2025-01');
    expect(sealed.length).toBe(12 + 12 + 16 + Buffer.byteLength(PEM));
    expect(sealed.toString('latin1')).not.toContain('PRIVATE KEY');
    expect((await store.get('certificates/api/v1/key.pem'))?.toString()).toBe(PEM);
  });

  it('uses a fresh IV for every write: the same value never encrypts the same way twice', async () => {
    const inner = new MemoryStore();
    const store = new EncryptedStore(inner, { key });
    await store.set('a', 'same');
    const first = await inner.get('a');
    await store.set('a', 'same');
    expect((await inner.get('a'))!.equals(first!)).toBe(false);
  });

  it('refuses to decrypt with the wrong key: STORE_CORRUPT that says so, without plaintext or key', async () => {
    const inner = new MemoryStore();
    await new EncryptedStore(inner, { key }).set('k', PEM);
    const error = await expectCode(new EncryptedStore(inner, { key: otherKey }).get('k'), 'STORE_CORRUPT');
    expect(error.message).toMatch(/could not be decrypted with key "default": the key is wrong/);
    const everything = JSON.stringify({ message: error.message, error });
    expect(everything).not.toContain('PRIVATE');
    expect(everything).not.toContain(otherKey.toString('hex'));
    expect(everything).not.toContain(otherKey.toString('base64'));
  });

  it('detects tampering with the ciphertext, the tag or the key id', async () => {
    const inner = new MemoryStore();
    const store = new EncryptedStore(inner, { key, keyId: 'a' });
    await store.set('k', 'secret');
    const sealed = (await inner.get('k'))!;
    for (const offset of [sealed.length - 1, 6 + 12 + 3]) {
      const bad = Buffer.from(sealed);
      bad[offset]! ^= 1;
      await inner.set('k', bad);
      await expectCode(store.get('k'), 'STORE_CORRUPT');
    }
    // Relabelled with another known key id: the header is authenticated, so this fails too.
    const relabelled = Buffer.from(sealed);
    relabelled[5] = 'b'.charCodeAt(0);
    await inner.set('k', relabelled);
    const both = new EncryptedStore(inner, { key, keyId: 'a', previousKeys: { b: key } });
    await expectCode(both.get('k'), 'STORE_CORRUPT');
    await inner.set('k', sealed.subarray(0, 20));
    await expectCode(store.get('k'), 'STORE_CORRUPT');
  });

  it('reads values written under previous keys after a rotation, and names a missing key id', async () => {
    const inner = new MemoryStore();
    await new EncryptedStore(inner, { key, keyId: 'old' }).set('v1', 'written before');
    const rotated = new EncryptedStore(inner, { key: otherKey, keyId: 'new', previousKeys: { old: key } });
    expect((await rotated.get('v1'))?.toString()).toBe('written before');
    await rotated.set('v2', 'written after');
    expect((await inner.get('v2'))!.subarray(5, 8).toString()).toBe('new');
    const forgetful = new EncryptedStore(inner, { key: otherKey, keyId: 'new' });
    const error = await expectCode(forgetful.get('v1'), 'STORE_CORRUPT');
    expect(error.message).toContain('key id "old"');
    expect(error.message).toContain('previousKeys');
  });

  it('treats plaintext as corrupt unless migrating with allowPlaintext', async () => {
    const inner = new MemoryStore();
    await inner.set('legacy', 'plain value');
    const error = await expectCode(new EncryptedStore(inner, { key }).get('legacy'), 'STORE_CORRUPT');
    expect(error.message).not.toContain('plain value');
    expect((await new EncryptedStore(inner, { key, allowPlaintext: true }).get('legacy'))?.toString()).toBe('plain value');
  });

  it('passes pointers, locks, listing and watching through', async () => {
    const inner = new MemoryStore();
    const store = new EncryptedStore(inner, { key });
    const seen: string[] = [];
    store.watch?.('c', (k) => seen.push(k));
    await store.set('c/api/v1/cert.pem', 'CERT');
    await store.setPointer('c/api/current', 'v1');
    expect(await inner.getPointer('c/api/current')).toBe('v1');
    expect((await store.get('c/api/current/cert.pem'))?.toString()).toBe('CERT');
    expect(await store.list('c')).toEqual(['c/api/v1/cert.pem']);
    const lock = await store.lock('c/api');
    await expectCode(inner.lock('c/api', { waitMs: 20 }), 'LOCK_TIMEOUT');
    await lock.release();
    await Promise.resolve();
    expect(seen).toEqual(['c/api/v1/cert.pem', 'c/api/current']);
    expect(store.kind).toBe('encrypted-memory');
    const noWatch = new EncryptedStore({ ...inner, kind: 'x', get: inner.get.bind(inner), set: inner.set.bind(inner), watch: undefined } as never, { key });
    expect(noWatch.watch).toBeUndefined();
  });

  it('validates key length and key ids without echoing the key', () => {
    const check = (fn: () => unknown, pattern: RegExp) => {
      const error = (() => { try { fn(); } catch (e) { return e; } return undefined; })();
      expect(isCertpilotError(error) && error.code).toBe('INVALID_OPTIONS');
      expect((error as Error).message).toMatch(pattern);
      return error as Error;
    };
    const short = Buffer.from('too-short-secret-key');
    const error = check(() => new EncryptedStore(new MemoryStore(), { key: short }), /must be 32 bytes .* got 20 bytes/);
    expect(error.message).not.toContain('too-short-secret-key');
    check(() => new EncryptedStore(new MemoryStore(), { key: 'x'.repeat(32) as never }), /got string/);
    check(() => new EncryptedStore(new MemoryStore(), { key, keyId: 'has space' }), /key id/);
    check(() => new EncryptedStore(new MemoryStore(), { key, previousKeys: { old: Buffer.alloc(16) } }), /key "old" must be 32 bytes/);
    check(() => new EncryptedStore(undefined as never, { key }), /wraps a store/);
    expect(EncryptedStore.generateKey()).toHaveLength(32);
  });

  it('keeps its own copy of the key', async () => {
    const mutable = Buffer.alloc(32, 3);
    const inner = new MemoryStore();
    const store = new EncryptedStore(inner, { key: mutable });
    mutable.fill(0);
    await store.set('a', 'x');
    expect((await new EncryptedStore(inner, { key: Buffer.alloc(32, 3) }).get('a'))?.toString()).toBe('x');
  });
});
