/**
 * The one place the local CA touches @peculiar/x509: Node's `crypto` can
 * generate keys and verify certificates but cannot build or sign them, so
 * certificate and CRL encoding go through this library on Node's WebCrypto.
 */
// @peculiar/x509 2.x resolves its services through tsyringe, which needs a Reflect polyfill loaded first.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType } from '../certificate.js';

/** The @peculiar/x509 namespace, loaded after its Reflect polyfill. */
export { x509 };

/** The WebCrypto provider handed to every x509 call, so we never set the library's process-wide default. */
export const provider = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;

/** A WebCrypto private key, as x509's generators take it. */
export type SigningKey = x509.X509CrlCreateParams['signingKey'];

/** x509's signature algorithm parameter. */
export type SigningAlgorithm = x509.X509CrlCreateParams['signingAlgorithm'];

/** A CA key ready to sign: the WebCrypto key and the signature algorithm that matches it. */
export interface Signer {
  key: SigningKey;
  algorithm: SigningAlgorithm;
}

/**
 * The signature algorithm for a CA key: ECDSA with the hash that matches the
 * curve's strength (RFC 5480 §4), RSA PKCS#1 v1.5 with SHA-256 — the pairs
 * every TLS client accepts.
 */
function algorithms(keyType: KeyType): { importParams: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams; sign: SigningAlgorithm } {
  switch (keyType) {
    case 'ecdsa-p256':
      return { importParams: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as SigningAlgorithm };
    case 'ecdsa-p384':
      return { importParams: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as SigningAlgorithm };
    default:
      return {
        importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as SigningAlgorithm,
      };
  }
}

/** Imports a PKCS#8 PEM private key of `keyType` as a non-extractable WebCrypto signing key. */
export async function importSigner(keyPem: string, keyType: KeyType): Promise<Signer> {
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const { importParams, sign } = algorithms(keyType);
  const key = await webcrypto.subtle.importKey('pkcs8', der, importParams, false, ['sign']);
  return { key: key as unknown as SigningKey, algorithm: sign };
}

/** The DER SubjectPublicKeyInfo of a private or public key PEM (what a certificate carries). */
export function spkiOf(keyPem: string): Buffer {
  return createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
}

/**
 * A random serial number as hex: 16 bytes with the top bit clear (a positive
 * INTEGER, RFC 5280 §4.1.2.2) and the next bit set (no leading zero byte, so
 * the hex reads the same everywhere). 126 random bits: far above the CA/B
 * Forum's 64, so serials never collide across intermediates or restarts.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** The keyIdentifier of a certificate's SubjectKeyIdentifier extension (hex), or `undefined`. */
export function subjectKeyId(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}

/** X.509 times have whole seconds: round down so what we record is what the certificate says. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/** DER of a non-negative INTEGER (the CRL number extension's value). */
export function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, 'hex');
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** Reads back a DER INTEGER written by {@link derInteger}; `undefined` for anything else. */
export function readDerInteger(der: ArrayBuffer | Uint8Array): bigint | undefined {
  const bytes = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der));
  if (bytes[0] !== 0x02 || bytes[1] === undefined || bytes[1] > 126 || bytes.length !== bytes[1] + 2) return undefined;
  const body = bytes.subarray(2);
  return body.length === 0 ? undefined : BigInt(`0x${body.toString('hex')}`);
}
