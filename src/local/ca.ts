/**
 * The local CA's root and intermediate: created once, on first use, under a
 * store lock so that every instance sharing the store ends up with the same
 * CA, and read back from the store afterwards.
 *
 * Store layout below `local-ca/<slug>/`:
 * - `root/cert.pem`, `root/key.pem` (sensitive)
 * - `intermediates/<serial>/cert.pem`, `intermediates/<serial>/key.pem` (sensitive)
 * - `revoked.json`, `crl.der`/`crl.pem`, `root-crl.der`/`root-crl.pem`: see crl.ts
 * - `ca.json` — `{ version: 1, intermediate: "<serial>" }`, written last: the
 *   commit point. Without it the CA does not exist yet (a crash half-way through
 *   creation leaves only unused files, which the next creator reuses or overwrites).
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyType } from '../certificate.js';
import { CertificateError, StoreError, throwIfAborted } from '../errors.js';
import type { Store } from '../storage/store.js';
import { generatePrivateKey, keyTypeOf } from '../x509/keys.js';
import type { ResolvedLocalOptions } from './options.js';
import { importSigner, provider, randomSerial, spkiOf, subjectKeyId, wholeSeconds, x509, type Signer } from './x509.js';

/** Where one CA keeps its state in the store. */
export interface CaPaths {
  /** `local-ca/<slug>` */
  base: string;
  /** `ca.json`: the commit point, naming the current intermediate. */
  state: string;
  rootCert: string;
  /** Sensitive. */
  rootKey: string;
  /** Prefix of every intermediate's folder. */
  intermediates: string;
  intermediateCert(id: string): string;
  /** Sensitive. */
  intermediateKey(id: string): string;
  /** The revocation list (see crl.ts). */
  revoked: string;
  /** The intermediate's CRL. */
  crlDer: string;
  crlPem: string;
  /** The root's CRL. */
  rootCrlDer: string;
  rootCrlPem: string;
  /** Lock held while creating the CA or replacing its intermediate. */
  caLock: string;
  /** Lock held while changing the revocation list and publishing a CRL. */
  crlLock: string;
}

/** The store keys of the CA with `slug`. */
export function caPaths(slug: string): CaPaths {
  const base = `local-ca/${slug}`;
  return {
    base,
    state: `${base}/ca.json`,
    rootCert: `${base}/root/cert.pem`,
    rootKey: `${base}/root/key.pem`,
    intermediates: `${base}/intermediates`,
    intermediateCert: (id) => `${base}/intermediates/${id}/cert.pem`,
    intermediateKey: (id) => `${base}/intermediates/${id}/key.pem`,
    revoked: `${base}/revoked.json`,
    crlDer: `${base}/crl.der`,
    crlPem: `${base}/crl.pem`,
    rootCrlDer: `${base}/root-crl.der`,
    rootCrlPem: `${base}/root-crl.pem`,
    caLock: `${base}/ca`,
    crlLock: `${base}/crl`,
  };
}

/** One CA certificate as read from the store. */
export interface CaCertificate {
  /** Serial number (hex): also the intermediate's folder name. */
  id: string;
  pem: string;
  cert: x509.X509Certificate;
  /** Its SubjectKeyIdentifier (hex): the AuthorityKeyIdentifier of everything it signs. */
  keyId: string;
}

/** The CA as one issuance needs it: the root (for trust) and the intermediate that signs. */
export interface LoadedCa {
  root: CaCertificate;
  intermediate: CaCertificate & { signer: Signer };
}

function corrupt(key: string, problem: string): never {
  throw new StoreError('STORE_CORRUPT', `The local CA state at "${key}" is damaged (${problem}): restore it from a backup, or delete local-ca/<name>/ to create a new CA (clients must then trust the new root)`, { details: { key } });
}

async function read(store: Store, key: string): Promise<string | undefined> {
  return (await store.get(key))?.toString('utf8');
}

function parseCaCertificate(pem: string, key: string): CaCertificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pem);
  } catch {
    corrupt(key, 'not a PEM certificate');
  }
  const keyId = subjectKeyId(cert);
  if (!keyId) corrupt(key, 'the certificate has no subject key identifier');
  return { id: cert.serialNumber.toLowerCase(), pem, cert, keyId };
}

async function readSigner(store: Store, key: string): Promise<Signer> {
  const pem = await read(store, key);
  if (!pem) corrupt(key, 'the private key is missing');
  let keyType: KeyType | undefined;
  try {
    keyType = keyTypeOf(createPrivateKey(pem));
  } catch {
    corrupt(key, 'not a PEM private key');
  }
  if (!keyType) corrupt(key, 'unsupported key type');
  return importSigner(pem, keyType);
}

/** The committed CA, or `undefined` when none was created yet. */
export async function loadCa(store: Store, paths: CaPaths): Promise<LoadedCa | undefined> {
  const raw = await read(store, paths.state);
  if (raw === undefined) return undefined;
  let id: unknown;
  try {
    id = (JSON.parse(raw) as { intermediate?: unknown }).intermediate;
  } catch {
    corrupt(paths.state, 'not JSON');
  }
  if (typeof id !== 'string' || !/^[0-9a-f]+$/.test(id)) corrupt(paths.state, 'no intermediate serial');
  const rootPem = await read(store, paths.rootCert);
  if (!rootPem) corrupt(paths.rootCert, 'the root certificate is missing');
  const intermediatePem = await read(store, paths.intermediateCert(id));
  if (!intermediatePem) corrupt(paths.intermediateCert(id), 'the intermediate certificate is missing');
  return {
    root: parseCaCertificate(rootPem, paths.rootCert),
    intermediate: { ...parseCaCertificate(intermediatePem, paths.intermediateCert(id)), signer: await readSigner(store, paths.intermediateKey(id)) },
  };
}

/** Every intermediate this CA ever made (current and replaced): a revoked leaf may come from any of them. */
export async function listIntermediates(store: Store, paths: CaPaths): Promise<CaCertificate[]> {
  const keys = (await store.list(paths.intermediates)).filter((key) => key.endsWith('/cert.pem'));
  const certs: CaCertificate[] = [];
  for (const key of keys) {
    const pem = await read(store, key);
    if (pem) certs.push(parseCaCertificate(pem, key));
  }
  return certs;
}

/**
 * An intermediate is replaced when a third of its life remains (the ratio the
 * library renews everything by, so a broken root key is noticed months ahead),
 * and always before it can no longer cover a whole leaf lifetime.
 */
export function intermediateDue(intermediate: CaCertificate, leafLifetimeMs: number, now: number): boolean {
  const notBefore = intermediate.cert.notBefore.getTime();
  const notAfter = intermediate.cert.notAfter.getTime();
  return notAfter - now < Math.max(leafLifetimeMs, (notAfter - notBefore) / 3);
}

/**
 * The CA, created on first use: reads the committed state, and only when it is
 * missing (or its intermediate is due) takes the CA lock, reads again (another
 * instance may have just created it) and creates what is missing.
 */
export async function ensureCa(store: Store, options: ResolvedLocalOptions, signal?: AbortSignal): Promise<LoadedCa> {
  const paths = caPaths(options.slug);
  const current = await loadCa(store, paths);
  if (current && !intermediateDue(current.intermediate, options.leafLifetimeMs, Date.now())) return current;
  throwIfAborted(signal, 'local CA setup');
  const lock = await store.lock(paths.caLock, signal ? { signal } : {});
  try {
    const again = await loadCa(store, paths);
    if (again && !intermediateDue(again.intermediate, options.leafLifetimeMs, Date.now())) return again;
    const root = again ? await loadRootSigner(store, paths) : await reuseOrCreateRoot(store, paths, options);
    throwIfAborted(signal, 'local CA setup');
    const intermediate = await createIntermediate(store, paths, options, root);
    await store.set(paths.state, `${JSON.stringify({ version: 1, intermediate: intermediate.id }, null, 2)}\n`);
    return { root: root.certificate, intermediate };
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/** The root with its signing key: only needed to sign intermediates and the root's CRL. */
export interface RootSigner {
  certificate: CaCertificate;
  signer: Signer;
}

/** Reads the root and its key (`STORE_CORRUPT` when either is missing). */
export async function loadRootSigner(store: Store, paths: CaPaths): Promise<RootSigner> {
  const pem = await read(store, paths.rootCert);
  if (!pem) corrupt(paths.rootCert, 'the root certificate is missing');
  return { certificate: parseCaCertificate(pem, paths.rootCert), signer: await readSigner(store, paths.rootKey) };
}

/** A root left by a creator that crashed before committing was never handed out: reuse it when whole, else start over. */
async function reuseOrCreateRoot(store: Store, paths: CaPaths, options: ResolvedLocalOptions): Promise<RootSigner> {
  try {
    const left = await loadRootSigner(store, paths);
    if (left.certificate.cert.notAfter.getTime() - Date.now() > options.intermediateLifetimeMs) return left;
  } catch {
    // Missing or partial: create a new one below.
  }
  const now = Date.now();
  const keyPem = await generatePrivateKey(options.keyType);
  const signer = await importSigner(keyPem, options.keyType);
  const spki = spkiOf(keyPem);
  const name: x509.JsonName = [{ O: [options.name] }, { CN: [`${options.name} Root`] }];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    notBefore: wholeSeconds(now - 60_000),
    notAfter: wholeSeconds(now + options.rootLifetimeMs),
    publicKey: spki,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spki, false, provider),
    ],
  }, provider);
  // Key first, certificate second: a certificate in the store always has its key next to it.
  await store.set(paths.rootKey, keyPem, { sensitive: true });
  const pem = cert.toString('pem');
  await store.set(paths.rootCert, `${pem.trim()}\n`);
  return { certificate: parseCaCertificate(`${pem.trim()}\n`, paths.rootCert), signer };
}

async function createIntermediate(store: Store, paths: CaPaths, options: ResolvedLocalOptions, root: RootSigner): Promise<LoadedCa['intermediate']> {
  const now = Date.now();
  const rootEnd = root.certificate.cert.notAfter.getTime();
  // Replacing the root silently would break every client that trusts it: that stays a person's decision.
  if (rootEnd - now < options.leafLifetimeMs) {
    throw new CertificateError('CERTIFICATE_CHECK_FAILED', `The root of local CA "${options.name}" expires at ${new Date(rootEnd).toISOString()}, too soon to sign another intermediate: delete ${paths.base}/ from the store to create a new CA, and distribute its root to clients`, { details: { ca: options.name, notAfter: new Date(rootEnd).toISOString() } });
  }
  const keyPem = await generatePrivateKey(options.keyType);
  const spki = spkiOf(keyPem);
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ O: [options.name] }, { CN: [`${options.name} Intermediate`] }],
    issuer: root.certificate.cert.subjectName,
    notBefore: wholeSeconds(now - 60_000),
    // Nothing may outlive the certificate that vouches for it.
    notAfter: wholeSeconds(Math.min(now + options.intermediateLifetimeMs, rootEnd)),
    publicKey: spki,
    signingKey: root.signer.key,
    signingAlgorithm: root.signer.algorithm,
    extensions: [
      // pathLen 0: this CA signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(spki, false, provider),
      new x509.AuthorityKeyIdentifierExtension(root.certificate.keyId),
    ],
  }, provider);
  const pem = `${cert.toString('pem').trim()}\n`;
  const parsed = parseCaCertificate(pem, paths.intermediateCert(serial));
  await store.set(paths.intermediateKey(parsed.id), keyPem, { sensitive: true });
  await store.set(paths.intermediateCert(parsed.id), pem);
  return { ...parsed, signer: await importSigner(keyPem, options.keyType) };
}
