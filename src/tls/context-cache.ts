/**
 * A bounded cache of `tls.SecureContext`s, one per certificate version.
 *
 * Building a secure context parses PEM and loads a private key into OpenSSL:
 * tens to hundreds of microseconds, and far more for RSA keys. An SNI
 * callback runs on every handshake, so it must find a ready context instead
 * of building one. Contexts are keyed by the leaf's SHA-256 fingerprint: a
 * rotation changes the fingerprint, so a new version never hits a stale entry
 * and nothing has to be invalidated explicitly — the old entry just ages out.
 */
import tls from 'node:tls';
import type { ManagedCertificate } from '../certificate.js';
import { CertificateError, ConfigError } from '../errors.js';

/**
 * Options of {@link ContextCache}.
 *
 * @example
 * ```ts
 * new ContextCache({ max: 10_000 }); // a multi-tenant server with many names
 * ```
 */
export interface ContextCacheOptions {
  /**
   * Most contexts kept. When full, the least recently used one is dropped;
   * servers still holding it keep working (a context is an ordinary object,
   * eviction only forgets it). Size it above the number of certificates
   * served at once so that handshakes never rebuild a context.
   * @default 256
   */
  max?: number;
}

interface Entry {
  context: tls.SecureContext;
  /**
   * The chain the context was built with. A CA can hand out the same leaf
   * with another chain (alternate chains, a cross-sign expiring), which keeps
   * the fingerprint but must still reach clients.
   */
  fullchain: string;
}

/**
 * Secure contexts built once per certificate version (keyed by
 * `fingerprint256`) and bounded by LRU eviction.
 *
 * One cache is meant to be shared by every server of a process, so that two
 * servers serving the same certificate share one context.
 *
 * @example
 * ```ts
 * const cache = new ContextCache({ max: 1000 });
 * const context = cache.get(manager.get('api')!); // built on first use
 * cache.get(manager.get('api')!) === context;      // true until the certificate rotates
 * ```
 */
export class ContextCache {
  /** Most entries kept. @default 256 */
  readonly max: number;
  // A Map iterates in insertion order, so re-inserting on every hit keeps the
  // least recently used entry first: an LRU with no extra bookkeeping.
  readonly #entries = new Map<string, Entry>();

  constructor(options: ContextCacheOptions = {}) {
    const max = options.max ?? 256;
    if (!Number.isInteger(max) || max < 1) {
      throw new ConfigError('INVALID_OPTIONS', `ContextCache max must be a positive integer, got ${String(max)}`, {
        details: { max },
      });
    }
    this.max = max;
  }

  /** Number of contexts held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The secure context serving `certificate` (its `fullchain` and `key`),
   * built on first use and reused for the same certificate version.
   *
   * Throws {@link CertificateError} `CERTIFICATE_CHECK_FAILED` when OpenSSL
   * refuses the PEM (unparsable, or a key that does not match the leaf).
   *
   * @example
   * ```ts
   * const server = tls.createServer({ SNICallback: (_name, cb) => cb(null, cache.get(current)) });
   * ```
   */
  get(certificate: ManagedCertificate): tls.SecureContext {
    const id = certificate.fingerprint256;
    const entry = this.#entries.get(id);
    if (entry && entry.fullchain === certificate.fullchain) {
      this.#entries.delete(id);
      this.#entries.set(id, entry);
      return entry.context;
    }
    const context = build(certificate);
    this.#entries.delete(id);
    this.#entries.set(id, { context, fullchain: certificate.fullchain });
    while (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return context;
  }

  /** Whether a context for this fingerprint (a certificate version) is cached. Does not refresh its age. */
  has(fingerprint256: string): boolean {
    return this.#entries.has(fingerprint256);
  }

  /** Forgets every context (servers keep the ones they hold). */
  clear(): void {
    this.#entries.clear();
  }
}

/** Builds a context from the full chain: serving `cert` alone breaks clients that lack the intermediate. */
function build(certificate: ManagedCertificate): tls.SecureContext {
  try {
    return tls.createSecureContext({ cert: certificate.fullchain, key: certificate.key });
  } catch (error) {
    // OpenSSL's message ("key values mismatch", "no start line") names the
    // problem and never echoes the PEM, so it is safe to carry as the cause.
    throw new CertificateError(
      'CERTIFICATE_CHECK_FAILED',
      `Cannot build a TLS context for certificate "${certificate.name}" (serial ${certificate.serialNumber}): ` +
        `${(error as Error).message}. Check that the key matches the leaf and that both are PEM.`,
      { cause: error, details: { name: certificate.name, serialNumber: certificate.serialNumber } },
    );
  }
}
