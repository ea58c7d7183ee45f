/**
 * Encryption at rest for any {@link Store}: {@link EncryptedStore} wraps a
 * store and encrypts every value with AES-256-GCM under a key the user
 * supplies, so whoever can read the Redis server, its backups or the
 * store's directory sees neither private keys nor account keys.
 *
 * Value format (version 1), all of it authenticated:
 *
 * ```
 * "cpe" 0x01 | keyId length (1 byte) | keyId (ASCII) | IV (12 bytes) | tag (16 bytes) | ciphertext
 * ```
 *
 * The header (magic, version, keyId) is the GCM additional data, so a value
 * cannot be relabelled with another key id. The key id lets a reader pick
 * the right key after a rotation: write with the new `key`, keep the old one
 * in `previousKeys` until every value has been rewritten. The store key is
 * deliberately not bound into the additional data: reads through a pointer
 * (`certificates/api/current/key.pem` in FileStore and MemoryStore) would
 * then fail to decrypt.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { ConfigError, StoreError } from '../errors.js';
import type { Store, StoreLock, StoreLockOptions, StoreSetOptions } from './store.js';

/** Options of {@link EncryptedStore}. */
export interface EncryptedStoreOptions {
  /** The 32-byte AES-256 key that encrypts every value written (e.g. `Buffer.from(process.env.CERTPILOT_KEY!, 'base64')`). */
  key: Buffer | Uint8Array;
  /** Names `key` in each value's header, so a later rotation knows which key wrote what (1–64 of `A-Za-z0-9._-`). @default 'default' */
  keyId?: string;
  /** Older keys by key id, used only to decrypt values written before a key rotation. @default {} */
  previousKeys?: Record<string, Buffer | Uint8Array>;
  /** Return values without an encryption header as they are (while migrating a store that held plaintext). Off, a plaintext value is `STORE_CORRUPT`. @default false */
  allowPlaintext?: boolean;
}

const MAGIC = Buffer.from('cpe\x01', 'latin1');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * A {@link Store} that encrypts every value of another store with
 * AES-256-GCM (a random 12-byte IV per write). Pointers, locks, listing and
 * watching pass through unchanged — keys are names, not secrets.
 *
 * Do not combine it with a {@link FileStore} that nginx or another program
 * reads directly: `…/current/fullchain.pem` and `key.pem` become ciphertext
 * that only certpilot can read.
 *
 * @example
 * ```ts
 * import { EncryptedStore } from 'certpilot';
 * import { RedisStore } from 'certpilot/storage/redis';
 *
 * const store = new EncryptedStore(new RedisStore({ url: process.env.REDIS_URL }), {
 *   key: Buffer.from(process.env.CERTPILOT_STORE_KEY!, 'base64'), // `openssl rand -base64 32`
 *   keyId: '2025-01',
 * });
 * ```
 */
export class EncryptedStore implements Store {
  /** `encrypted-` and the inner store's kind (`encrypted-redis`). */
  readonly kind: string;
  /** The wrapped store. */
  readonly inner: Store;
  /** Subscribes to the inner store's changes; absent when the inner store cannot watch. */
  readonly watch?: (prefix: string, listener: (key: string) => void) => () => void;
  readonly #keyId: string;
  readonly #header: Buffer;
  readonly #keys = new Map<string, KeyObject>();
  readonly #allowPlaintext: boolean;

  /** 32 random bytes, suitable as `key` (store them in your secret manager). */
  static generateKey(): Buffer {
    return randomBytes(32);
  }

  constructor(inner: Store, options: EncryptedStoreOptions) {
    if (!inner || typeof inner.get !== 'function' || typeof inner.set !== 'function') {
      throw new ConfigError('INVALID_OPTIONS', 'EncryptedStore wraps a store: new EncryptedStore(new RedisStore({...}), { key })');
    }
    if (typeof options !== 'object' || options === null) throw new ConfigError('INVALID_OPTIONS', 'EncryptedStore needs { key } (32 bytes)');
    this.inner = inner;
    this.kind = `encrypted-${inner.kind}`;
    this.#keyId = options.keyId ?? 'default';
    this.#allowPlaintext = options.allowPlaintext ?? false;
    this.#keys.set(this.#keyId, secretKey(options.key, this.#keyId));
    for (const [id, key] of Object.entries(options.previousKeys ?? {})) {
      if (id !== this.#keyId) this.#keys.set(id, secretKey(key, id));
    }
    this.#header = Buffer.concat([MAGIC, Buffer.from([this.#keyId.length]), Buffer.from(this.#keyId, 'latin1')]);
    if (typeof inner.watch === 'function') this.watch = inner.watch.bind(inner);
  }

  /** Reads and decrypts; a value that does not decrypt is `STORE_CORRUPT` (never its plaintext or the key). */
  async get(key: string): Promise<Buffer | undefined> {
    const sealed = await this.inner.get(key);
    return sealed === undefined ? undefined : this.#open(key, sealed);
  }

  /** Encrypts `value` with the current key and a fresh IV, then writes it. */
  async set(key: string, value: Buffer | string, options?: StoreSetOptions): Promise<void> {
    const plain = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#keyId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#header);
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    await this.inner.set(key, Buffer.concat([this.#header, iv, cipher.getAuthTag(), body]), options);
  }

  delete(key: string): Promise<void> { return this.inner.delete(key); }
  list(prefix: string): Promise<string[]> { return this.inner.list(prefix); }
  lock(key: string, options?: StoreLockOptions): Promise<StoreLock> { return this.inner.lock(key, options); }
  setPointer(key: string, target: string): Promise<void> { return this.inner.setPointer(key, target); }
  getPointer(key: string): Promise<string | undefined> { return this.inner.getPointer(key); }

  /** Closes the inner store: the wrapper owns it. */
  async close(): Promise<void> {
    await this.inner.close?.();
  }

  #open(key: string, sealed: Buffer): Buffer {
    if (sealed.length < MAGIC.length + 1 || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
      if (this.#allowPlaintext) return sealed;
      throw this.#corrupt(key, 'is not encrypted (written without EncryptedStore, or by a newer certpilot); pass allowPlaintext: true while migrating a plaintext store');
    }
    const idLength = sealed[MAGIC.length]!;
    const headerLength = MAGIC.length + 1 + idLength;
    if (sealed.length < headerLength + IV_BYTES + TAG_BYTES) throw this.#corrupt(key, 'is truncated');
    const keyId = sealed.subarray(MAGIC.length + 1, headerLength).toString('latin1');
    const secret = this.#keys.get(keyId);
    if (!secret) throw this.#corrupt(key, `was encrypted with key id "${keyId}", which this EncryptedStore does not have: pass that key in previousKeys`);
    const iv = sealed.subarray(headerLength, headerLength + IV_BYTES);
    const tag = sealed.subarray(headerLength + IV_BYTES, headerLength + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(sealed.subarray(0, headerLength));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(sealed.subarray(headerLength + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      // GCM only says "unauthenticated": the key is wrong or the bytes were changed. Nothing decrypted leaves this function.
      throw this.#corrupt(key, `could not be decrypted with key "${keyId}": the key is wrong or the value was altered`);
    }
  }

  #corrupt(key: string, what: string): StoreError {
    return new StoreError('STORE_CORRUPT', `Value "${key}" in the ${this.kind} store ${what}`, { details: { key, store: this.kind } });
  }
}

function secretKey(key: Buffer | Uint8Array, keyId: string): KeyObject {
  if (!KEY_ID.test(keyId)) throw new ConfigError('INVALID_OPTIONS', `EncryptedStore: key id ${JSON.stringify(keyId)} must be 1–64 characters of A-Z a-z 0-9 . _ -`);
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    // Say what was wrong with it, never what it was.
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new ConfigError('INVALID_OPTIONS', `EncryptedStore: key "${keyId}" must be 32 bytes (AES-256), got ${got}; generate one with \`openssl rand -base64 32\` and pass Buffer.from(…, 'base64')`);
  }
  // A KeyObject holds its own copy: the caller may wipe or reuse their buffer.
  return createSecretKey(Buffer.from(key));
}
