/**
 * Revocation for the local CA: the list of revoked serials in the store
 * (`local-ca/<slug>/revoked.json`, the source of truth) and the CRLs signed
 * from it (`crl.der`/`crl.pem` by the intermediate, `root-crl.der`/`root-crl.pem`
 * by the root; a cache that is re-signed when stale).
 * Both change only under the CRL lock, so two revocations at once never lose one.
 */
import type { RevocationReason } from '../events.js';
import { StoreError, throwIfAborted } from '../errors.js';
import { REVOCATION_REASON_CODES } from '../issuer.js';
import type { Store } from '../storage/store.js';
import { caPaths, loadRootSigner, type CaPaths, type LoadedCa } from './ca.js';
import type { ResolvedLocalOptions } from './options.js';
import { derInteger, provider, readDerInteger, wholeSeconds, x509, type Signer } from './x509.js';

/** OID of the cRLNumber extension (RFC 5280 §5.2.3). */
const CRL_NUMBER = '2.5.29.20';

/** One revoked certificate, as the local CA records it. */
export interface LocalRevocation {
  /** Serial number, lower-case hex without leading zeros (as in `ManagedCertificate.serialNumber`). */
  serialNumber: string;
  reason: RevocationReason;
  revokedAt: Date;
  /** When the certificate expires; the entry leaves the CRL one CRL lifetime later. */
  notAfter: Date;
}

/** The CRLs of the local CA: the intermediate's (lists revoked leaves) and the root's (lists revoked intermediates: none). */
export interface LocalCrl {
  /** The intermediate's CRL, DER: serve it as `application/pkix-crl` at `crlUrl`. */
  der: Buffer;
  /** The intermediate's CRL, PEM (`-----BEGIN X509 CRL-----`). */
  pem: string;
  /**
   * The root's CRL, PEM. Clients that check every certificate of the chain
   * (Node's `crl` option, OpenSSL's `-crl_check_all`) need it as well:
   * `tls.connect({ ca: root, crl: [crl.pem, crl.rootPem] })`.
   */
  rootPem: string;
  /** The root's CRL, DER. */
  rootDer: Buffer;
  thisUpdate: Date;
  /** Relying parties treat the CRL as stale after this; `crl()` re-signs once half the time has passed. */
  nextUpdate: Date;
  /** The cRLNumber extension of both CRLs: grows by one every time the CA signs them. */
  crlNumber: number;
  /** The entries the intermediate's CRL lists. */
  revoked: LocalRevocation[];
}

interface StoredEntry { serialNumber: string; reason: RevocationReason; revokedAt: string; notAfter: string }
interface RevocationState { version: 1; crlNumber: number; entries: StoredEntry[] }

async function readState(store: Store, paths: CaPaths): Promise<RevocationState> {
  const raw = await store.get(paths.revoked);
  if (!raw) return { version: 1, crlNumber: 0, entries: [] };
  try {
    const state = JSON.parse(raw.toString('utf8')) as RevocationState;
    if (!Number.isSafeInteger(state.crlNumber) || !Array.isArray(state.entries)) throw new Error('shape');
    return state;
  } catch {
    throw new StoreError('STORE_CORRUPT', `The local CA revocation list at "${paths.revoked}" is damaged: restore it from a backup (deleting it un-revokes every certificate)`, { details: { key: paths.revoked } });
  }
}

/**
 * RFC 5280 §3.3: an entry may leave the CRL only after it appeared on a CRL
 * issued beyond the certificate's expiry. One CRL lifetime past expiry covers
 * that, since CRLs are re-signed at half their lifetime.
 */
function listed(entry: StoredEntry, options: ResolvedLocalOptions, now: number): boolean {
  return Date.parse(entry.notAfter) + options.crlLifetimeMs > now;
}

function toRevocation(entry: StoredEntry): LocalRevocation {
  return { serialNumber: entry.serialNumber, reason: entry.reason, revokedAt: new Date(entry.revokedAt), notAfter: new Date(entry.notAfter) };
}

/** PEM with the RFC 7468 label `X509 CRL` (the one OpenSSL, nginx and browsers read; x509 writes plain `CRL`). */
function crlPem(der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN X509 CRL-----\n${body}\n-----END X509 CRL-----\n`;
}

/** DER INTEGER octets of a serial written as hex without leading zeros. */
function serialHex(serial: string): string {
  return serial.length % 2 ? `0${serial}` : serial;
}

interface CrlSigner { cert: x509.X509Certificate; keyId: string; signer: Signer }

async function signOne(issuer: CrlSigner, number: number, entries: StoredEntry[], thisUpdate: Date, nextUpdate: Date): Promise<Buffer> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subjectName,
    thisUpdate,
    nextUpdate,
    signingKey: issuer.signer.key,
    signingAlgorithm: issuer.signer.algorithm,
    extensions: [
      // Both required in every CRL (RFC 5280 §5.2.1, §5.2.3): which key signed it, and its place in the sequence.
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
      new x509.Extension(CRL_NUMBER, false, derInteger(BigInt(number))),
    ],
    // A reason of `unspecified` (0) is left out of the entry, as RFC 5280 §5.3.1 recommends.
    entries: entries.map((e) => ({ serialNumber: serialHex(e.serialNumber), revocationDate: new Date(e.revokedAt), reason: REVOCATION_REASON_CODES[e.reason] })),
  }, provider);
  return Buffer.from(crl.rawData);
}

/**
 * Signs both CRLs and writes the state first (the truth), then the CRLs: a
 * crash in between leaves CRLs whose number lags, which `currentCrl` replaces.
 */
async function publish(store: Store, paths: CaPaths, ca: LoadedCa, state: RevocationState, options: ResolvedLocalOptions): Promise<LocalCrl> {
  const now = Date.now();
  state.crlNumber += 1;
  state.entries = state.entries.filter((e) => listed(e, options, now));
  const thisUpdate = wholeSeconds(now);
  const nextUpdate = wholeSeconds(now + options.crlLifetimeMs);
  const root = await loadRootSigner(store, paths);
  const der = await signOne(ca.intermediate, state.crlNumber, state.entries, thisUpdate, nextUpdate);
  // The root never revokes its intermediates (a replaced one still vouches for live leaves): its CRL is empty.
  const rootDer = await signOne({ ...root.certificate, signer: root.signer }, state.crlNumber, [], thisUpdate, nextUpdate);
  const crl: LocalCrl = {
    der, pem: crlPem(der), rootDer, rootPem: crlPem(rootDer), thisUpdate, nextUpdate, crlNumber: state.crlNumber, revoked: state.entries.map(toRevocation),
  };
  await store.set(paths.revoked, `${JSON.stringify(state, null, 2)}\n`);
  await store.set(paths.rootCrlDer, crl.rootDer);
  await store.set(paths.rootCrlPem, crl.rootPem);
  await store.set(paths.crlDer, crl.der);
  await store.set(paths.crlPem, crl.pem);
  return crl;
}

/** A stored CRL, parsed, when it was signed by `keyId` with number `number`. */
async function readCrl(store: Store, key: string, keyId: string, number: number): Promise<{ der: Buffer; crl: x509.X509Crl } | undefined> {
  const der = await store.get(key);
  if (!der) return undefined;
  try {
    const crl = new x509.X509Crl(der);
    const value = crl.getExtension(CRL_NUMBER)?.value;
    if (crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId !== keyId) return undefined;
    if (!value || readDerInteger(value) !== BigInt(number)) return undefined;
    return { der, crl };
  } catch {
    return undefined;
  }
}

/** The stored CRLs when still good to hand out: signed by the current intermediate, from the current state, not past half their life. */
async function cached(store: Store, paths: CaPaths, ca: LoadedCa, state: RevocationState, options: ResolvedLocalOptions): Promise<LocalCrl | undefined> {
  const mine = await readCrl(store, paths.crlDer, ca.intermediate.keyId, state.crlNumber);
  const root = await readCrl(store, paths.rootCrlDer, ca.root.keyId, state.crlNumber);
  if (!mine || !root) return undefined;
  const { thisUpdate, nextUpdate } = mine.crl;
  if (!nextUpdate || Date.now() >= thisUpdate.getTime() + (nextUpdate.getTime() - thisUpdate.getTime()) / 2) return undefined;
  return {
    der: mine.der, pem: crlPem(mine.der), rootDer: root.der, rootPem: crlPem(root.der), thisUpdate, nextUpdate, crlNumber: state.crlNumber,
    revoked: state.entries.filter((e) => listed(e, options, thisUpdate.getTime())).map(toRevocation),
  };
}

/** The current CRL: the stored one while fresh, else a newly signed one (under the CRL lock). */
export async function currentCrl(store: Store, options: ResolvedLocalOptions, ca: LoadedCa, signal?: AbortSignal): Promise<LocalCrl> {
  const paths = caPaths(options.slug);
  const fresh = await cached(store, paths, ca, await readState(store, paths), options);
  if (fresh) return fresh;
  throwIfAborted(signal, 'CRL update');
  const lock = await store.lock(paths.crlLock, signal ? { signal } : {});
  try {
    const state = await readState(store, paths);
    return (await cached(store, paths, ca, state, options)) ?? (await publish(store, paths, ca, state, options));
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * Records a revocation and publishes a CRL that lists it. Revoking a serial
 * twice keeps the first record (reason and time) and is not an error.
 */
export async function recordRevocation(
  store: Store, options: ResolvedLocalOptions, ca: LoadedCa, revocation: LocalRevocation, signal?: AbortSignal,
): Promise<LocalCrl> {
  const paths = caPaths(options.slug);
  throwIfAborted(signal, 'revocation');
  const lock = await store.lock(paths.crlLock, signal ? { signal } : {});
  try {
    const state = await readState(store, paths);
    if (!state.entries.some((e) => e.serialNumber === revocation.serialNumber)) {
      state.entries.push({
        serialNumber: revocation.serialNumber, reason: revocation.reason,
        revokedAt: revocation.revokedAt.toISOString(), notAfter: revocation.notAfter.toISOString(),
      });
    }
    return await publish(store, paths, ca, state, options);
  } finally {
    await lock.release().catch(() => undefined);
  }
}
