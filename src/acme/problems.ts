/**
 * The one place where ACME failures become typed errors. acme-client keeps only
 * a problem's `detail`, so certpilot reads raw responses and maps the RFC 8555
 * problem `type` here.
 */
import { AcmeError, scrub, type ErrorCode } from '../errors.js';

/** An RFC 7807 / RFC 8555 problem document. */
export interface AcmeProblem {
  type?: string;
  detail?: string;
  status?: number;
  subproblems?: Array<{ type?: string; detail?: string; identifier?: { type: string; value: string } }>;
}

const PREFIX = 'urn:ietf:params:acme:error:';

const TABLE: Record<string, { code: ErrorCode; retryable: boolean; hint: string }> = {
  rateLimited: { code: 'ACME_RATE_LIMITED', retryable: true, hint: 'the CA rate-limited this request; wait before retrying' },
  badNonce: { code: 'ACME_BAD_NONCE', retryable: true, hint: 'the CA kept rejecting nonces; retry' },
  unauthorized: { code: 'ACME_UNAUTHORIZED', retryable: false, hint: 'the account may not do this (check the domains and the account)' },
  rejectedIdentifier: { code: 'ACME_REJECTED_IDENTIFIER', retryable: false, hint: 'the CA will not issue for one of the names; remove it' },
  caa: { code: 'ACME_CAA', retryable: false, hint: "a CAA record forbids this CA; add the CA's domain to the CAA record" },
  dns: { code: 'ACME_DNS', retryable: true, hint: 'the CA could not resolve the challenge record; check the zone and its nameservers' },
  connection: { code: 'ACME_CONNECTION', retryable: true, hint: 'the CA could not reach the validation target' },
  malformed: { code: 'ACME_MALFORMED', retryable: false, hint: 'the CA found the request malformed' },
  accountDoesNotExist: { code: 'ACME_ACCOUNT_DOES_NOT_EXIST', retryable: true, hint: 'the CA does not know the account; it will be registered again' },
  externalAccountRequired: { code: 'ACME_EXTERNAL_ACCOUNT_REQUIRED', retryable: false, hint: 'this CA requires external account binding: pass externalAccountBinding { kid, hmacKey }' },
  badCSR: { code: 'ACME_BAD_CSR', retryable: false, hint: 'the CA refused the CSR (key type or names)' },
  badSignatureAlgorithm: { code: 'ACME_MALFORMED', retryable: false, hint: 'the CA does not accept the account key type; use an ecdsa-p256 account key' },
  badPublicKey: { code: 'ACME_BAD_CSR', retryable: false, hint: 'the CA does not accept this key type; choose another keyType' },
  badRevocationReason: { code: 'ACME_BAD_REVOCATION_REASON', retryable: false, hint: 'the CA does not accept this revocation reason' },
  alreadyRevoked: { code: 'ACME_ALREADY_REVOKED', retryable: false, hint: 'the certificate is already revoked' },
  alreadyReplaced: { code: 'ACME_ALREADY_REPLACED', retryable: true, hint: 'the certificate was already replaced; order again without "replaces"' },
  orderNotReady: { code: 'ACME_ORDER_NOT_READY', retryable: true, hint: 'the order was not ready to finalize' },
  serverInternal: { code: 'ACME_SERVER_INTERNAL', retryable: true, hint: 'the CA had an internal error; retry later' },
  userActionRequired: { code: 'ACME_USER_ACTION_REQUIRED', retryable: false, hint: 'the CA needs a person to act (often new terms of service)' },
  incorrectResponse: { code: 'ACME_INCORRECT_RESPONSE', retryable: true, hint: 'the CA saw a wrong challenge response; check the DNS provider and CNAMEs' },
  invalidContact: { code: 'INVALID_OPTIONS', retryable: false, hint: 'the CA refused the contact email; pass a valid email' },
  unsupportedContact: { code: 'INVALID_OPTIONS', retryable: false, hint: 'the CA refused the contact URL scheme' },
};

/** Parses an HTTP `Retry-After` header (seconds or HTTP date). */
export function parseRetryAfter(value: unknown, now = Date.now()): Date | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return new Date(now + seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : new Date(date);
}

/**
 * Maps a problem document (or an HTTP failure without one) to an {@link AcmeError}.
 * `operation` says what was being done ("create the order", …) for the message.
 */
export function problemToError(
  operation: string,
  problem: AcmeProblem | undefined,
  status?: number,
  retryAfterHeader?: unknown,
): AcmeError {
  const type = typeof problem?.type === 'string' ? problem.type : undefined;
  const short = type?.startsWith(PREFIX) ? type.slice(PREFIX.length) : undefined;
  const entry = short ? TABLE[short] : undefined;
  const detail = problem?.detail ? scrub(String(problem.detail)).slice(0, 500) : undefined;
  const subs = (problem?.subproblems ?? [])
    .map((s) => `${s.identifier?.value ?? '?'}: ${scrub(String(s.detail ?? s.type ?? ''))}`)
    .slice(0, 10);
  const retryAfter = parseRetryAfter(retryAfterHeader);
  const code: ErrorCode = entry?.code ?? 'ACME_ERROR';
  const retryable = entry?.retryable ?? (status === undefined || status >= 500 || status === 429);
  const parts = [`ACME server refused to ${operation}`];
  if (detail) parts.push(`: ${detail}`);
  if (subs.length) parts.push(` [${subs.join('; ')}]`);
  parts.push(` (${short ?? type ?? `HTTP ${status ?? 'error'}`})`);
  if (entry) parts.push(` — ${entry.hint}`);
  if (retryAfter) parts.push(`; retry after ${retryAfter.toISOString()}`);
  return new AcmeError(code, parts.join(''), {
    retryable,
    problemType: type,
    status,
    retryAfter,
    details: { operation, ...(type ? { problemType: type } : {}), ...(status ? { status } : {}) },
  });
}
