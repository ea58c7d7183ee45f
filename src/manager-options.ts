/**
 * The options and result types of {@link CertificateManager}, their
 * validation, and the conversion of unknown failures into typed errors.
 */
import type { KeyType } from './certificate.js';
import { AbortError, CertpilotError, ConfigError, scrub, type ErrorCode } from './errors.js';
import type { RevocationReason } from './events.js';
import type { Issuer } from './issuer.js';
import { assertBackoffLadder } from './renewal/backoff.js';
import type { RenewalReason } from './renewal/plan.js';
import type { RenewalPolicy } from './renewal/window.js';
import type { Store } from './storage/store.js';
import { isCertpilotError } from './errors.js';

/** Options of {@link CertificateManager}. */
export interface CertificateManagerOptions {
  /** Where certificates, keys, account keys and locks live. */
  store: Store;
  /** Who signs certificates. Without one the manager is a follower: it only serves what the store holds. @default undefined */
  issuer?: Issuer;
  /** When to renew. @default renew when 1/3 of the lifetime remains (1/2 for lifetimes ≤ 10 days) */
  renewal?: RenewalPolicy;
  /** Certificate versions kept in the store per name. @default 5 */
  keepVersions?: number;
  /** Lease of the per-name store lock held while ordering. @default 30000 */
  lockTtlMs?: number;
  /** How long to wait for another instance's order of the same name. @default 300000 */
  lockWaitMs?: number;
  /** Longest sleep of the control loop between checks (also the follower's re-read interval). @default 60000 */
  checkIntervalMs?: number;
  /** Secure contexts cached (one per certificate version). @default 256 */
  contextCacheSize?: number;
  /** Replace a certificate at once when the CRL named in its CRL distribution point lists it (checked under `monitor()`). @default true */
  checkRevocation?: boolean;
  /** Time between two CRL checks of one certificate (CRLs themselves are cached until their nextUpdate, 1 min to 24 h). @default 21600000 (6 hours) */
  revocationCheckIntervalMs?: number;
  /** Delays after the 1st, 2nd, 3rd… consecutive failed renewal (the last repeats), each with ±20 % jitter. @default [60000, 600000, 6000000, 86400000] */
  retryBackoffMs?: number[];
}

/** What to provision. */
export interface ProvisionSpec {
  /** A handle for the certificate (`api`): letters, digits, `.`, `_`, `-`. */
  name: string;
  /** Names the certificate covers (`example.com`, `*.example.com`); order does not matter. */
  domains: string[];
  /** Key type of this certificate. @default the issuer's keyType */
  keyType?: KeyType;
}

/** Options of {@link CertificateManager.revoke}. */
export interface RevokeOptions {
  /** Why. Public CAs accept `unspecified`, `keyCompromise`, `superseded`, `cessationOfOperation`. @default 'unspecified' */
  reason?: RevocationReason;
}

/** One row of {@link CertificateManager.status}. */
export interface CertificateStatus {
  name: string;
  domains: string[];
  serialNumber?: string;
  notAfter?: Date;
  renewAt?: Date;
  /** Why `renewAt` is what it is. */
  renewReason?: RenewalReason;
  attempts: number;
  nextAttemptAt?: Date;
  lastError?: { message: string; code: string };
}

/** Throws a typed error for options that cannot work, naming the option. */
export function validateOptions(options: CertificateManagerOptions): void {
  if (typeof options !== 'object' || options === null) throw new ConfigError('INVALID_OPTIONS', 'CertificateManager needs an options object with a store');
  const s = options.store as Partial<Store> | undefined;
  if (!s || typeof s.get !== 'function' || typeof s.set !== 'function' || typeof s.lock !== 'function' || typeof s.setPointer !== 'function') {
    throw new ConfigError('INVALID_OPTIONS', 'CertificateManager needs a `store` (new FileStore({ directory }), new MemoryStore(), or a RedisStore)');
  }
  const i = options.issuer as Partial<Issuer> | undefined;
  if (i !== undefined && (typeof i.issue !== 'function' || typeof i.revoke !== 'function')) {
    throw new ConfigError('INVALID_OPTIONS', '`issuer` must be an Issuer such as new AcmeIssuer({...})');
  }
  assertBackoffLadder(options.retryBackoffMs);
  for (const key of ['keepVersions', 'lockTtlMs', 'lockWaitMs', 'checkIntervalMs', 'contextCacheSize', 'revocationCheckIntervalMs'] as const) {
    const v = options[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) {
      throw new ConfigError('INVALID_OPTIONS', `${key} must be a positive number, got ${JSON.stringify(v)}`);
    }
  }
  const rb = options.renewal?.renewBefore;
  if (rb !== undefined && (typeof rb !== 'number' || !(rb > 0))) {
    throw new ConfigError('INVALID_OPTIONS', `renewal.renewBefore must be a ratio between 0 and 1 or a duration in ms, got ${JSON.stringify(rb)}`);
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Any failure as a CertpilotError (unknown ones scrubbed, cause kept). */
export function toCertpilotError(error: unknown, closed: boolean): CertpilotError {
  if (isCertpilotError(error)) return error;
  if (closed) return new AbortError('The certificate manager was closed during the operation');
  const code: ErrorCode = 'ACME_ERROR';
  // Unknown errors may come from user code (a custom issuer or store); their text is scrubbed, the cause kept for debugging.
  return new CertpilotError(code, `Unexpected failure: ${scrub(messageOf(error))}`, { cause: error, retryable: true });
}
