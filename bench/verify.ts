/** Checks an issued chain the way a TLS client would, against Pebble's root of this run. */
import { X509Certificate } from 'node:crypto';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Verifies that `fullchain` (leaf first) chains up to `rootPem` signature by
 * signature, that the leaf names exactly `apex` and `*.apex`, that it is valid
 * now and that its key is ECDSA P-256 (the key type every peer is asked for).
 * Returns `undefined` when all holds, else what is wrong.
 */
export function checkFullchain(fullchain: string, rootPem: string, apex: string): string | undefined {
  const certs = (fullchain.match(PEM) ?? []).map((pem) => new X509Certificate(pem));
  if (certs.length < 2) return `expected leaf + intermediate, got ${certs.length} certificate(s)`;
  const chain = [...certs, new X509Certificate(rootPem)];
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) {
      return `certificate ${i} (${chain[i]!.subject}) is not signed by ${chain[i + 1]!.subject}`;
    }
  }
  const leaf = certs[0]!;
  const names = (leaf.subjectAltName ?? '').split(', ').map((n) => n.replace(/^DNS:/, '')).sort();
  if (names.join(' ') !== [`*.${apex}`, apex].sort().join(' ')) return `leaf names ${names.join(', ')}, expected ${apex} and *.${apex}`;
  const now = Date.now();
  if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return `leaf is not valid now (${leaf.validFrom} – ${leaf.validTo})`;
  const key = leaf.publicKey.asymmetricKeyDetails;
  if (leaf.publicKey.asymmetricKeyType !== 'ec' || key?.namedCurve !== 'prime256v1') return `leaf key is not ECDSA P-256`;
  return undefined;
}
