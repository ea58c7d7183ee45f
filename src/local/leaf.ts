/** Leaf certificates of the local CA: what browsers and TLS clients require of a server certificate, nothing more. */
import type { KeyType } from '../certificate.js';
import type { LoadedCa } from './ca.js';
import { provider, randomSerial, spkiOf, wholeSeconds, x509 } from './x509.js';

/** What to put into one leaf. */
export interface LeafRequest {
  /** Normalised domains, wildcards as `*.example.com`: every one becomes a DNS SAN. */
  domains: string[];
  /** The leaf's private key (PKCS#8 PEM); only its public half goes into the certificate. */
  keyPem: string;
  keyType: KeyType;
  lifetimeMs: number;
  crlUrl: string | undefined;
}

/**
 * How far notBefore is set back: a minute absorbs clock skew between this
 * host and its clients, but never more than a tenth of the lifetime, so that
 * renewal by lifetime ratio still works for leaves that live a few seconds.
 */
export function backdateMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 10));
}

/** Signs a leaf for `request` with the CA's intermediate and returns it as PEM. */
export async function signLeaf(ca: LoadedCa, request: LeafRequest, now = Date.now()): Promise<string> {
  const spki = spkiOf(request.keyPem);
  const { intermediate } = ca;
  // A CN is optional when SANs are present (RFC 6125); keep one that fits 64 characters for tools that still show it.
  const cn = request.domains.find((d) => d.length <= 64);
  const usage = request.keyType.startsWith('rsa')
    // RSA keys may still be used for key transport by old TLS 1.2 clients; ECDSA keys only sign.
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    // Critical when the subject is empty (RFC 5280 §4.2.1.6).
    new x509.SubjectAlternativeNameExtension(request.domains.map((value) => ({ type: 'dns' as const, value })), cn === undefined),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, provider),
    new x509.AuthorityKeyIdentifierExtension(intermediate.keyId),
  ];
  if (request.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([request.crlUrl]));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: cn === undefined ? [] : [{ CN: [cn] }],
    issuer: intermediate.cert.subjectName,
    notBefore: wholeSeconds(now - backdateMs(request.lifetimeMs)),
    // Never past the intermediate: a client would reject the whole chain once it expires.
    notAfter: wholeSeconds(Math.min(now + request.lifetimeMs, intermediate.cert.notAfter.getTime())),
    publicKey: spki,
    signingKey: intermediate.signer.key,
    signingAlgorithm: intermediate.signer.algorithm,
    extensions,
  }, provider);
  return `${cert.toString('pem').trim()}\n`;
}
