/**
 * One error hierarchy for the whole library. Every error has a stable string
 * `code` that callers switch on, a message that says what to fix, and never
 * carries key material or credentials.
 */

/** Every error code certpilot throws. Codes are stable across releases. */
export type ErrorCode =
  // Input and configuration
  | 'INVALID_OPTIONS'
  | 'INVALID_DOMAIN'
  | 'INVALID_NAME'
  | 'INVALID_KEY_TYPE'
  | 'INVALID_PEM'
  | 'INVALID_REVOCATION_REASON'
  | 'NO_ISSUER'
  | 'NOT_FOUND'
  | 'CLOSED'
  | 'ABORTED'
  | 'TIMEOUT'
  // Certificates
  | 'CERTIFICATE_CHECK_FAILED'
  | 'KEY_TYPE_MISMATCH'
  | 'RELOAD_FAILED'
  // Storage and locks
  | 'STORE_NOT_WRITABLE'
  | 'STORE_ERROR'
  | 'STORE_CORRUPT'
  | 'LOCK_TIMEOUT'
  | 'LOCK_NOT_OWNED'
  // ACME
  | 'ACME_ERROR'
  | 'ACME_UNREACHABLE'
  | 'ACME_RATE_LIMITED'
  | 'ACME_BAD_NONCE'
  | 'ACME_UNAUTHORIZED'
  | 'ACME_REJECTED_IDENTIFIER'
  | 'ACME_CAA'
  | 'ACME_DNS'
  | 'ACME_CONNECTION'
  | 'ACME_MALFORMED'
  | 'ACME_ACCOUNT_DOES_NOT_EXIST'
  | 'ACME_EXTERNAL_ACCOUNT_REQUIRED'
  | 'ACME_BAD_CSR'
  | 'ACME_BAD_REVOCATION_REASON'
  | 'ACME_ALREADY_REVOKED'
  | 'ACME_ALREADY_REPLACED'
  | 'ACME_ORDER_NOT_READY'
  | 'ACME_SERVER_INTERNAL'
  | 'ACME_USER_ACTION_REQUIRED'
  | 'ACME_INCORRECT_RESPONSE'
  | 'ACME_CHALLENGE_FAILED'
  | 'REVOCATION_FAILED'
  // DNS
  | 'DNS_PROVIDER_ERROR'
  | 'DNS_ZONE_NOT_FOUND'
  | 'DNS_CNAME_LOOP'
  | 'DNS_PROPAGATION_TIMEOUT'
  | 'DNS_LOOKUP_FAILED';

const BRAND = Symbol.for('certpilot.error');

/** Options common to every certpilot error. */
export interface CertpilotErrorOptions {
  /** The lower-level error, when there is one. Never holds secrets: callers scrub before wrapping. */
  cause?: unknown;
  /** Whether trying the same operation again later may succeed. @default false */
  retryable?: boolean;
  /** Structured, non-secret details (domain, serial, provider, …). */
  details?: Record<string, unknown>;
}

/**
 * Base class of every error certpilot throws.
 *
 * @example
 * ```ts
 * try { await manager.provision({ name: 'api', domains: ['api.example.com'] }); }
 * catch (e) { if (isCertpilotError(e) && e.code === 'ACME_RATE_LIMITED') scheduleLater(); }
 * ```
 */
export class CertpilotError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Whether trying again later may succeed. */
  readonly retryable: boolean;
  /** Structured, non-secret details. */
  readonly details: Record<string, unknown>;
  /** @internal brand that survives duplicate installs of the package. */
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options: CertpilotErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  /** A JSON form that omits the stack and the cause chain (safe for logs and status pages). */
  toJSON(): { name: string; code: ErrorCode; message: string; retryable: boolean; details: Record<string, unknown> } {
    return { name: this.name, code: this.code, message: this.message, retryable: this.retryable, details: this.details };
  }
}

/**
 * True for any certpilot error, even one thrown by another copy of the package.
 *
 * @example
 * ```ts
 * if (isCertpilotError(err)) console.log(err.code);
 * ```
 */
export function isCertpilotError(value: unknown): value is CertpilotError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** Bad options, names, domains, key types or PEM input: fix the call. */
export class ConfigError extends CertpilotError {}

/** A certificate failed a check (parse, chain order, names, key match, validity). */
export class CertificateError extends CertpilotError {}

/** A store could not read, write or lock. */
export class StoreError extends CertpilotError {}

/** A lock could not be acquired in time, or was released by someone who does not hold it. */
export class LockError extends CertpilotError {}

/**
 * The ACME server refused or failed a request. `problemType` is the RFC 8555
 * problem type (`urn:ietf:params:acme:error:rateLimited`, …) when the CA sent one.
 */
export class AcmeError extends CertpilotError {
  /** RFC 8555 problem type, when the server sent a problem document. */
  readonly problemType: string | undefined;
  /** HTTP status of the failed response, when there was one. */
  readonly status: number | undefined;
  /** When the CA asked us to come back (from `Retry-After`). */
  readonly retryAfter: Date | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: CertpilotErrorOptions & { problemType?: string; status?: number; retryAfter?: Date } = {},
  ) {
    super(code, message, options);
    this.problemType = options.problemType;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
  }
}

/** The replacement is active but the CA refused to revoke the old certificate. */
export class RevocationError extends CertpilotError {
  /** Serial (lower-case hex) of the certificate that is still valid at the CA. */
  readonly serialNumber: string;
  constructor(message: string, serialNumber: string, options: CertpilotErrorOptions = {}) {
    super('REVOCATION_FAILED', message, { ...options, details: { ...options.details, serialNumber } });
    this.serialNumber = serialNumber;
  }
}

/** A DNS provider call, zone lookup, CNAME chain or propagation check failed. */
export class DnsError extends CertpilotError {}

/** The operation was aborted through its signal, or the manager was closed. */
export class AbortError extends CertpilotError {
  constructor(message = 'The operation was aborted', options: CertpilotErrorOptions = {}) {
    super('ABORTED', message, options);
  }
}

/** Throws an {@link AbortError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) throw new AbortError(`The ${what} was aborted`, { cause: signal.reason });
}

/**
 * Strips anything that looks like a secret from a message that came from
 * outside (provider answers, CA details): bearer tokens, PEM blocks, long
 * base64 runs. Defence in depth — we never put secrets into messages ourselves.
 */
export function scrub(text: string): string {
  return text
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '[pem redacted]')
    .replace(/\b(bearer|basic)\s+[^\s"',}&]+/gi, '$1 [redacted]')
    // Only key/value forms (`token=…`, `"secret": "…"`): prose such as "apiToken is required" stays readable.
    .replace(/(token|secret|authorization|signature|password|x-amz-security-token|api[_-]?key)(["']?\s*[:=]\s*["']?)(?!\[redacted\]|bearer\b|basic\b)[^\s"',}&]+/gi, '$1$2[redacted]')
    .replace(/[A-Za-z0-9+/_-]{40,}={0,2}/g, '[redacted]');
}
