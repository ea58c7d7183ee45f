/**
 * Test certificates: a small two-level CA (root → intermediate) and leaves
 * for given names, built with @peculiar/x509 on Node's WebCrypto. The leaf
 * comes back shaped exactly like a {@link ManagedCertificate}, with every
 * derived field (serial, fingerprint, issuer) read back through Node's own
 * `X509Certificate`, so tests compare against what a TLS peer sees.
 *
 * An intermediate (rather than a root signing leaves directly) makes `chain`
 * non-empty, which is what catches code that serves `cert` instead of
 * `fullchain`: a client that trusts only the root fails on a missing chain.
 */
// @peculiar/x509 2.x resolves its services through tsyringe, which needs a Reflect polyfill first.
import 'reflect-metadata';
import { X509Certificate as NodeX509, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { KeyType, ManagedCertificate } from '../../src/certificate.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcdsaParams = webcrypto.EcdsaParams;

type Algorithms = {
  key: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  signing: webcrypto.Algorithm | EcdsaParams;
};

function algorithms(keyType: KeyType): Algorithms {
  switch (keyType) {
    case 'ecdsa-p256':
      return { key: { name: 'ECDSA', namedCurve: 'P-256' }, signing: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams };
    case 'ecdsa-p384':
      return { key: { name: 'ECDSA', namedCurve: 'P-384' }, signing: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams };
    default: {
      const modulusLength = Number(keyType.slice('rsa-'.length));
      return {
        key: { name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        signing: { name: 'RSASSA-PKCS1-v1_5' },
      };
    }
  }
}

async function generateKeys(keyType: KeyType): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithms(keyType).key, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** Positive, non-zero first byte: DER keeps no padding byte, so the hex has no leading zeros to strip. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Serial as the library spells it: lower-case hex, no colons, no leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}

/** A test CA: trust `root` in clients; leaves are signed by the intermediate. */
export interface TestCa {
  /** Root certificate, PEM: what a client passes as `ca`. */
  root: string;
  /** Intermediate certificate, PEM: what servers send as `chain`. */
  intermediate: string;
  /** @internal signing key and subject of the intermediate. */
  readonly signer: { key: CryptoKey; subject: string; keyType: KeyType };
}

/** Options of {@link createCa}. */
export interface CreateCaOptions {
  /** Key type of the root and intermediate. @default 'ecdsa-p256' */
  keyType?: KeyType;
  /** Common name prefix. @default 'certpilot test' */
  commonName?: string;
}

/**
 * Creates a root and an intermediate CA.
 *
 * @example
 * ```ts
 * const ca = await createCa();
 * const leaf = await issueCertificate(ca, { name: 'api', domains: ['api.test'] });
 * tls.connect({ port, ca: ca.root, servername: 'api.test' });
 * ```
 */
export async function createCa(options: CreateCaOptions = {}): Promise<TestCa> {
  const keyType = options.keyType ?? 'ecdsa-p256';
  const cn = options.commonName ?? 'certpilot test';
  const now = Date.now();
  const notBefore = new Date(now - 60 * 60_000);
  const notAfter = new Date(now + 365 * 86_400_000);
  const rootKeys = await generateKeys(keyType);
  const rootSubject = `CN=${cn} root`;
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(), name: rootSubject, notBefore, notAfter, keys: rootKeys,
    signingAlgorithm: algorithms(keyType).signing,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const interKeys = await generateKeys(keyType);
  const interSubject = `CN=${cn} intermediate`;
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(), subject: interSubject, issuer: rootSubject, notBefore, notAfter,
    publicKey: interKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: algorithms(keyType).signing,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  return {
    root: root.toString('pem'),
    intermediate: intermediate.toString('pem'),
    signer: { key: interKeys.privateKey, subject: interSubject, keyType },
  };
}

/** Options of {@link issueCertificate}. */
export interface IssueOptions {
  /** Managed name (the handle, not a domain). */
  name: string;
  /** DNS names for the SAN; the first is also the subject CN. Wildcards as `*.example.com`. */
  domains: string[];
  /** Leaf key type. @default 'ecdsa-p256' */
  keyType?: KeyType;
  /** @default one hour ago */
  notBefore?: Date;
  /** @default 90 days from now */
  notAfter?: Date;
}

/**
 * Issues a leaf from `ca` and returns it as a {@link ManagedCertificate}.
 *
 * @example
 * ```ts
 * const rsa = await issueCertificate(ca, { name: 'legacy', domains: ['old.test'], keyType: 'rsa-2048' });
 * ```
 */
export async function issueCertificate(ca: TestCa, options: IssueOptions): Promise<ManagedCertificate> {
  const keyType = options.keyType ?? 'ecdsa-p256';
  const keys = await generateKeys(keyType);
  const notBefore = options.notBefore ?? new Date(Date.now() - 60 * 60_000);
  const notAfter = options.notAfter ?? new Date(Date.now() + 90 * 86_400_000);
  const isRsa = keyType.startsWith('rsa-');
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${options.domains[0] ?? options.name}`,
    issuer: ca.signer.subject,
    notBefore, notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signer.key,
    signingAlgorithm: algorithms(ca.signer.keyType).signing,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // RSA leaves also allow keyEncipherment (TLS 1.2 RSA key exchange); ECDSA only signs.
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | (isRsa ? x509.KeyUsageFlags.keyEncipherment : 0), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(options.domains.map((value) => ({ type: 'dns' as const, value }))),
    ],
  });
  const cert = leaf.toString('pem') + '\n';
  const chain = ca.intermediate + '\n';
  const parsed = new NodeX509(cert);
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    name: options.name,
    domains: options.domains.map((d) => d.toLowerCase()),
    serialNumber: normalizeSerial(parsed.serialNumber),
    notBefore: new Date(parsed.validFrom),
    notAfter: new Date(parsed.validTo),
    keyType,
    issuer: parsed.issuer,
    fingerprint256: parsed.fingerprint256,
    cert,
    chain,
    fullchain: cert + chain,
    key,
  };
}
