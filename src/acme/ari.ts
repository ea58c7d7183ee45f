/**
 * ACME Renewal Information (RFC 9773): the CA suggests when to renew. The
 * CertID is base64url(AKI keyIdentifier) "." base64url(serial DER content),
 * and the `renewalInfo` GET is unauthenticated.
 */
import { X509Certificate } from 'node:crypto';
import { AcmeError } from '../errors.js';
import { parseRetryAfter } from './problems.js';

/** A CA's suggestion, as fetched. */
export interface RenewalInfo {
  /** The window in which the CA wants the certificate renewed. */
  start: Date;
  end: Date;
  /** When to ask again (`Retry-After`, clamped to 1 minute … 1 day). */
  retryAfter: Date;
  /** A page explaining an unusual window (e.g. a mass revocation). */
  explanationURL?: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** RFC 9773 §4.3: poll about every 6 hours when the CA sends no Retry-After. */
const DEFAULT_POLL_MS = 6 * 3600_000;

/** Reads the keyIdentifier of the Authority Key Identifier extension (2.5.29.35) from a DER certificate. */
export function authorityKeyIdentifier(der: Buffer): Buffer | undefined {
  const oid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);
  let at = der.indexOf(oid);
  if (at < 0) return undefined;
  at += oid.length;
  if (der[at] === 0x01) at += 3; // critical BOOLEAN
  if (der[at] !== 0x04) return undefined; // extnValue OCTET STRING
  const outer = readLength(der, at + 1);
  let p = outer.start;
  if (der[p] !== 0x30) return undefined; // AuthorityKeyIdentifier SEQUENCE
  p = readLength(der, p + 1).start;
  if (der[p] !== 0x80) return undefined; // [0] keyIdentifier
  const id = readLength(der, p + 1);
  return der.subarray(id.start, id.start + id.length);
}

function readLength(buf: Buffer, at: number): { start: number; length: number } {
  const first = buf[at] ?? 0;
  if (first < 0x80) return { start: at + 1, length: first };
  const bytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < bytes; i++) length = length * 256 + (buf[at + 1 + i] ?? 0);
  return { start: at + 1 + bytes, length };
}

/** The RFC 9773 CertID of a PEM certificate, or `undefined` when it has no AKI. */
export function certId(certPem: string): string | undefined {
  const cert = new X509Certificate(certPem);
  const aki = authorityKeyIdentifier(cert.raw);
  if (!aki) return undefined;
  let serial = Buffer.from(cert.serialNumber.length % 2 ? `0${cert.serialNumber}` : cert.serialNumber, 'hex');
  // DER INTEGER content: a positive number whose top bit is set gets a leading zero byte.
  if ((serial[0] ?? 0) & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${aki.toString('base64url')}.${serial.toString('base64url')}`;
}

/** Parses a renewalInfo answer; malformed answers are typed errors, never silently trusted. */
export function parseRenewalInfo(status: number, data: unknown, retryAfterHeader: unknown, now = Date.now()): RenewalInfo {
  if (status !== 200) {
    throw new AcmeError('ACME_ERROR', `The CA's renewalInfo answered HTTP ${status}`, { retryable: true, status });
  }
  const body = (typeof data === 'string' ? safeJson(data) : data) as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | undefined;
  const start = Date.parse(String(body?.suggestedWindow?.start));
  const end = Date.parse(String(body?.suggestedWindow?.end));
  if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) {
    throw new AcmeError('ACME_MALFORMED', 'The CA sent a malformed renewalInfo answer (suggestedWindow needs a start before its end); the lifetime ratio applies instead', { retryable: true });
  }
  const asked = parseRetryAfter(retryAfterHeader, now)?.getTime() ?? now + DEFAULT_POLL_MS;
  const retryAfter = new Date(Math.min(Math.max(asked, now + MINUTE), now + DAY));
  const explanationURL = typeof body?.explanationURL === 'string' ? body.explanationURL : undefined;
  return { start: new Date(start), end: new Date(end), retryAfter, ...(explanationURL ? { explanationURL } : {}) };
}

function safeJson(text: string): unknown {
  try { return JSON.parse(text); } catch { return undefined; }
}
