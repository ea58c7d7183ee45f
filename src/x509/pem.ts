/** PEM splitting and joining. */
import { ConfigError } from '../errors.js';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificate blocks (normalised line endings, one trailing newline each). */
export function splitCertificates(pem: string): string[] {
  if (typeof pem !== 'string') throw new ConfigError('INVALID_PEM', 'Expected a PEM string of certificates');
  const blocks = pem.replace(/\r\n/g, '\n').match(CERT_BLOCK) ?? [];
  return blocks.map((b) => `${b.trim()}\n`);
}

/** Joins PEM blocks into one bundle. */
export function joinPem(blocks: string[]): string {
  return blocks.map((b) => (b.endsWith('\n') ? b : `${b}\n`)).join('');
}

/** The base64url DER body of the first PEM block. */
export function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN [A-Z ]+-----([\s\S]+?)-----END [A-Z ]+-----/.exec(pem);
  if (!match?.[1]) throw new ConfigError('INVALID_PEM', 'Expected a PEM block');
  return Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
}
