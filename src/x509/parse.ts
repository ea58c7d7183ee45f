/** Building the certificate model from PEM, with node:crypto's fast X509Certificate parser. */
import { X509Certificate } from 'node:crypto';
import type { ManagedCertificate } from '../certificate.js';
import { CertificateError } from '../errors.js';
import { keyTypeOf, normalizePrivateKey } from './keys.js';
import { joinPem, splitCertificates } from './pem.js';

/** Parses one PEM certificate, with a typed error on bad input. */
export function parseX509(pem: string, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CertificateError('INVALID_PEM', `The ${what} is not a valid PEM X.509 certificate`);
  }
}

/** Serial number as lower-case hex without colons or leading zeros. */
export function serialOf(cert: X509Certificate): string {
  return cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
}

/** DNS names in the subjectAltName extension, lower-case. */
export function dnsNamesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? '';
  return san
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
}

/**
 * Builds a {@link ManagedCertificate} from a full chain PEM (leaf first) and a
 * private key. Does not check anything beyond parsing: see `checkCertificate`.
 */
export function buildCertificate(
  name: string,
  domains: string[],
  fullchainPem: string,
  keyPem: string,
  options: { trustedKey?: boolean } = {},
): ManagedCertificate {
  const blocks = splitCertificates(fullchainPem);
  const [leafPem, ...chainBlocks] = blocks;
  if (!leafPem) throw new CertificateError('INVALID_PEM', `The certificate bundle for "${name}" holds no PEM certificate`);
  const leaf = parseX509(leafPem, `certificate of "${name}"`);
  // A key read back from the store was normalised to PKCS#8 when it was saved: re-parsing it costs
  // ~0.5 ms per certificate, which dominates loading thousands of them.
  const key = options.trustedKey && keyPem.startsWith('-----BEGIN PRIVATE KEY-----') ? keyPem : normalizePrivateKey(keyPem).pem;
  const keyType = keyTypeOf(leaf.publicKey);
  if (!keyType) throw new CertificateError('INVALID_KEY_TYPE', `The certificate of "${name}" uses an unsupported key type`);
  return {
    name,
    domains: [...domains],
    serialNumber: serialOf(leaf),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    keyType,
    issuer: leaf.issuer,
    fingerprint256: leaf.fingerprint256,
    cert: leafPem,
    chain: joinPem(chainBlocks),
    fullchain: joinPem(blocks),
    key,
  };
}
