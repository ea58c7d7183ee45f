/** The certificate model that the manager holds, stores and hands to hosts. */

/** Key types for certificate private keys. */
export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

/** Every supported {@link KeyType}. */
export const KEY_TYPES: readonly KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

/** A managed certificate without its private key: what events carry. */
export interface CertificateInfo {
  /** The managed name (the user's handle, not a domain). */
  name: string;
  /** The domains the certificate was requested for (lower-case, wildcards as `*.example.com`). */
  domains: string[];
  /** Serial number, lower-case hex without colons or leading zeros. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  keyType: KeyType;
  /** Issuer distinguished name, as Node prints it. */
  issuer: string;
  /** SHA-256 fingerprint of the leaf, colon-separated upper-case hex (as Node prints it). */
  fingerprint256: string;
  /** Leaf certificate, PEM. */
  cert: string;
  /** Intermediates, PEM, leaf's issuer first. */
  chain: string;
  /** Leaf followed by the chain, PEM. */
  fullchain: string;
}

/** A managed certificate with its private key (PKCS#8 PEM). Read through `manager.get(name)`. */
export interface ManagedCertificate extends CertificateInfo {
  /** Private key, PKCS#8 PEM. Never logged, never in events or errors. */
  key: string;
}

/** Returns the certificate without its key. */
export function toInfo(certificate: ManagedCertificate): CertificateInfo {
  const { key: _key, ...info } = certificate;
  return info;
}
