/**
 * The checks a certificate passes before it may become active. A failed check
 * never replaces the active certificate: callers check first, store second.
 */
import { createPrivateKey } from 'node:crypto';
import type { ManagedCertificate } from '../certificate.js';
import { CertificateError } from '../errors.js';
import { dnsNamesOf, parseX509 } from './parse.js';
import { splitCertificates } from './pem.js';

/** Options for {@link checkCertificate}. */
export interface CheckOptions {
  /** The time to check validity against. @default Date.now() */
  now?: number;
  /** Clock skew tolerated for a notBefore in the future. @default 300000 (5 minutes) */
  skewMs?: number;
}

function fail(name: string, problem: string, details: Record<string, unknown> = {}): never {
  throw new CertificateError('CERTIFICATE_CHECK_FAILED', `Certificate for "${name}" failed a check: ${problem}`, { details: { name, ...details } });
}

/**
 * Checks that the certificate parses, its chain is ordered (each certificate is
 * signed by the next), its names cover every requested domain, its private key
 * matches, and `now` lies inside its validity period.
 */
export function checkCertificate(cert: ManagedCertificate, options: CheckOptions = {}): void {
  const now = options.now ?? Date.now();
  const skew = options.skewMs ?? 300_000;
  const blocks = splitCertificates(cert.fullchain);
  if (blocks.length === 0) fail(cert.name, 'the bundle holds no certificate');
  const parsed = blocks.map((b, i) => parseX509(b, i === 0 ? `leaf of "${cert.name}"` : `chain certificate ${i} of "${cert.name}"`));
  const leaf = parsed[0]!;
  for (let i = 0; i + 1 < parsed.length; i++) {
    const child = parsed[i]!;
    const parent = parsed[i + 1]!;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      fail(cert.name, `chain is not ordered: certificate ${i} ("${child.subject}") is not signed by certificate ${i + 1} ("${parent.subject}")`);
    }
  }
  const names = dnsNamesOf(leaf);
  // Exact SAN entries: the CA was asked for these names, so a wildcard that merely matches one is not what was ordered.
  const missing = cert.domains.filter((d) => !names.includes(d));
  if (missing.length > 0) fail(cert.name, `it does not cover ${missing.join(', ')} (it names ${names.join(', ') || 'nothing'})`, { missing });
  let keyOk = false;
  try {
    keyOk = leaf.checkPrivateKey(createPrivateKey(cert.key));
  } catch {
    keyOk = false;
  }
  if (!keyOk) fail(cert.name, 'its private key does not match the certificate');
  const notBefore = new Date(leaf.validFrom).getTime();
  const notAfter = new Date(leaf.validTo).getTime();
  if (notBefore - skew > now) fail(cert.name, `it is not valid before ${new Date(notBefore).toISOString()}`);
  if (notAfter <= now) fail(cert.name, `it expired at ${new Date(notAfter).toISOString()}`);
}
