/** Private keys: generation, type detection and CSRs. */
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import acme from 'acme-client';
import { KEY_TYPES, type KeyType } from '../certificate.js';
import { ConfigError } from '../errors.js';

const generate = promisify(generateKeyPair);

/** Throws a typed error unless `value` is a supported {@link KeyType}. */
export function assertKeyType(value: unknown): asserts value is KeyType {
  if (!KEY_TYPES.includes(value as KeyType)) {
    throw new ConfigError('INVALID_KEY_TYPE', `Unknown key type ${JSON.stringify(value)}: use one of ${KEY_TYPES.join(', ')}`);
  }
}

/** Generates a new private key of `type`, as PKCS#8 PEM. */
export async function generatePrivateKey(type: KeyType): Promise<string> {
  assertKeyType(type);
  const { privateKey } =
    type === 'ecdsa-p256' || type === 'ecdsa-p384'
      ? await generate('ec', { namedCurve: type === 'ecdsa-p256' ? 'P-256' : 'P-384' })
      : await generate('rsa', { modulusLength: Number(type.slice(4)) });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The {@link KeyType} of a public or private key, or `undefined` for unsupported keys. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') {
    if (details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
    if (details?.namedCurve === 'secp384r1') return 'ecdsa-p384';
    return undefined;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details?.modulusLength;
    return bits === 2048 || bits === 3072 || bits === 4096 ? (`rsa-${bits}` as KeyType) : undefined;
  }
  return undefined;
}

/** Parses a private key PEM (PKCS#8, PKCS#1 or SEC1) into PKCS#8 PEM, with a typed error on bad input. */
export function normalizePrivateKey(pem: string): { pem: string; key: KeyObject } {
  try {
    const key = createPrivateKey(pem);
    return { pem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), key };
  } catch {
    // The message of the underlying error may echo input; it never leaves this function.
    throw new ConfigError('INVALID_PEM', 'The private key is not a valid PEM private key (PKCS#8, PKCS#1 or SEC1)');
  }
}

/** Creates a DER-encoded PKCS#10 CSR for `domains`, signed with `keyPem`. */
export async function createCsr(domains: string[], keyPem: string): Promise<Buffer> {
  // A CN is optional for ACME CAs; keep one when it fits (64 characters) for older tooling that reads it.
  const first = domains.find((d) => d.length <= 64);
  const [, csrPem] = await acme.crypto.createCsr({ altNames: [...domains], ...(first ? { commonName: first } : {}) }, keyPem);
  const body = csrPem.toString().replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}
