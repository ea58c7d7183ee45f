/** LocalIssuer revocation: the stored list, and CRLs signed by the intermediate that list revoked serials with their reasons. */
import { webcrypto } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isCertpilotError } from '../../../src/errors.js';
import { LocalIssuer } from '../../../src/local/issuer.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { contextOf, issue, x509 } from './fixtures.js';

const crypto = webcrypto as unknown as NonNullable<Parameters<x509.X509Crl['verify']>[1]>;
const HOUR = 3_600_000;

afterEach(() => {
  vi.useRealTimers();
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isCertpilotError(error) ? error.code : `untyped: ${String(error)}`;
  }
  return undefined;
}

function crlNumberOf(crl: x509.X509Crl): number | undefined {
  const value = crl.getExtension('2.5.29.20')?.value;
  return value ? Number.parseInt(Buffer.from(value).subarray(2).toString('hex'), 16) : undefined;
}

describe('revoke', () => {
  it('lists the serial with its reason in a CRL whose signature verifies with the intermediate key only', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ crlLifetimeMs: 2 * HOUR });
    const cert = await issue(issuer, store, ['a.example.test', '*.a.example.test']);
    const keep = await issue(issuer, store, ['b.example.test']);
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    const published = await issuer.crl(store);
    const crl = new x509.X509Crl(published.der);
    expect(crl.findRevoked(cert.serialNumber)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(crl.findRevoked(keep.serialNumber)).toBeNull();
    expect(crl.entries).toHaveLength(1);
    const intermediate = new x509.X509Certificate(cert.chain);
    const root = new x509.X509Certificate(await issuer.rootCertificate(store));
    expect(await crl.verify({ publicKey: intermediate }, crypto)).toBe(true);
    expect(await crl.verify({ publicKey: root }, crypto)).toBe(false);
    expect(crl.issuer).toBe(intermediate.subject);
    expect(crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(intermediate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    expect(crl.nextUpdate!.getTime() - crl.thisUpdate.getTime()).toBe(2 * HOUR);
    // The PEM form is the same CRL, with the label OpenSSL and nginx read.
    expect(published.pem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(Buffer.from(new x509.X509Crl(published.pem.replace(/X509 CRL/g, 'CRL')).rawData)).toEqual(published.der);
    // The root signs its own (empty) CRL, for clients that check every certificate of the chain.
    const rootCrl = new x509.X509Crl(published.rootDer);
    expect(await rootCrl.verify({ publicKey: root }, crypto)).toBe(true);
    expect(rootCrl.entries).toHaveLength(0);
    expect(rootCrl.issuer).toBe(root.subject);
    expect(crlNumberOf(rootCrl)).toBe(crlNumberOf(crl));
    expect(published.rootPem.startsWith('-----BEGIN X509 CRL-----\n')).toBe(true);
    expect(published.revoked).toEqual([expect.objectContaining({ serialNumber: cert.serialNumber, reason: 'keyCompromise', notAfter: cert.notAfter })]);
    // The store holds the record and the published CRL.
    const record = JSON.parse((await store.get('local-ca/certpilot-local-ca/revoked.json'))!.toString()) as { entries: { serialNumber: string; reason: string }[] };
    expect(record.entries).toEqual([expect.objectContaining({ serialNumber: cert.serialNumber, reason: 'keyCompromise' })]);
    expect(await store.get('local-ca/certpilot-local-ca/crl.der')).toEqual(published.der);
    expect((await store.get('local-ca/certpilot-local-ca/crl.pem'))?.toString()).toBe(published.pem);
    expect(await store.get('local-ca/certpilot-local-ca/root-crl.der')).toEqual(published.rootDer);
  });

  it('is idempotent: a second revocation keeps the first record and is not an error', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const cert = await issue(issuer, store, ['a.example.test']);
    await issuer.revoke(cert, 'superseded', contextOf(store));
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    const crl = await issuer.crl(store);
    expect(crl.revoked).toHaveLength(1);
    expect(crl.revoked[0]!.reason).toBe('superseded');
    expect(new x509.X509Crl(crl.der).findRevoked(cert.serialNumber)?.reason).toBe(x509.X509CrlReason.superseded);
  });

  it('loses no revocation when instances revoke concurrently', async () => {
    const store = new MemoryStore();
    const certs = await Promise.all(['a', 'b', 'c', 'd'].map((n) => issue(new LocalIssuer(), store, [`${n}.example.test`])));
    await Promise.all(certs.map((cert) => new LocalIssuer().revoke(cert, 'cessationOfOperation', contextOf(store))));
    const crl = new x509.X509Crl((await new LocalIssuer().crl({ store })).der);
    for (const cert of certs) expect(crl.findRevoked(cert.serialNumber)?.reason).toBe(x509.X509CrlReason.cessationOfOperation);
  });

  it('leaves the reason code out for unspecified, as RFC 5280 recommends', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const cert = await issue(issuer, store, ['a.example.test']);
    await issuer.revoke(cert, 'unspecified', contextOf(store));
    const entry = new x509.X509Crl((await issuer.crl(store)).der).findRevoked(cert.serialNumber);
    expect(entry).not.toBeNull();
    expect(entry!.reason).toBeUndefined();
  });

  it('refuses certificates another CA issued, and unknown reasons', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    await issue(issuer, store, ['a.example.test']);
    const foreign = await issue(new LocalIssuer({ name: 'other CA' }), store, ['a.example.test']);
    expect(await codeOf(issuer.revoke(foreign, 'keyCompromise', contextOf(store)))).toBe('CERTIFICATE_CHECK_FAILED');
    const own = await issue(issuer, store, ['a.example.test']);
    expect(await codeOf(issuer.revoke(own, 'cACompromise' as never, contextOf(store)))).toBe('INVALID_REVOCATION_REASON');
    expect((await issuer.crl(store)).revoked).toEqual([]);
    // A store without this CA: refused, and no CA is created along the way.
    const empty = new MemoryStore();
    expect(await codeOf(new LocalIssuer({ name: 'fresh CA' }).revoke(own, 'keyCompromise', contextOf(empty)))).toBe('CERTIFICATE_CHECK_FAILED');
    expect(await empty.list('local-ca/')).toEqual([]);
  });

  it('reports a damaged revocation list as STORE_CORRUPT instead of forgetting revocations', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const cert = await issue(issuer, store, ['a.example.test']);
    await store.set('local-ca/certpilot-local-ca/revoked.json', 'not json');
    expect(await codeOf(issuer.revoke(cert, 'keyCompromise', contextOf(store)))).toBe('STORE_CORRUPT');
  });
});

describe('crl()', () => {
  it('creates the CA when needed and returns an empty, signed CRL', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const published = await issuer.crl(store);
    expect(published.revoked).toEqual([]);
    expect(published.crlNumber).toBe(1);
    const crl = new x509.X509Crl(published.der);
    expect(crl.entries).toHaveLength(0);
    expect(crlNumberOf(crl)).toBe(1);
    const cert = await issue(issuer, store, ['a.example.test']);
    expect(await crl.verify({ publicKey: new x509.X509Certificate(cert.chain) }, crypto)).toBe(true);
  });

  it('hands out the stored CRL while fresh and re-signs it, with the next number, after half its lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ crlLifetimeMs: HOUR });
    const first = await issuer.crl(store);
    vi.setSystemTime(start + 20 * 60_000);
    const cached = await new LocalIssuer().crl(store);
    expect(cached.der).toEqual(first.der);
    expect(cached.rootDer).toEqual(first.rootDer);
    vi.setSystemTime(start + 31 * 60_000);
    const second = await issuer.crl(store);
    expect(second.der).not.toEqual(first.der);
    expect(second.crlNumber).toBe(first.crlNumber + 1);
    expect(crlNumberOf(new x509.X509Crl(second.der))).toBe(second.crlNumber);
    expect(second.nextUpdate.getTime()).toBeGreaterThan(first.nextUpdate.getTime());
    expect(crlNumberOf(new x509.X509Crl(second.rootDer))).toBe(second.crlNumber);
  });

  it('re-signs when the stored CRL lags the revocation list (a crash between the two writes)', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const cert = await issue(issuer, store, ['a.example.test']);
    const before = await issuer.crl(store);
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    // Put back the CRL from before the revocation, as if the process died after writing revoked.json.
    await store.set('local-ca/certpilot-local-ca/crl.der', before.der);
    const crl = await issuer.crl(store);
    expect(crl.crlNumber).toBe(before.crlNumber + 2);
    expect(new x509.X509Crl(crl.der).findRevoked(cert.serialNumber)?.reason).toBe(x509.X509CrlReason.keyCompromise);
  });

  it('keeps an entry until one CRL lifetime after the certificate expired, then drops it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ leafLifetimeMs: HOUR, crlLifetimeMs: HOUR });
    const cert = await issue(issuer, store, ['a.example.test']);
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    vi.setSystemTime(start + 90 * 60_000); // expired, but within one CRL lifetime of expiry
    expect((await issuer.crl(store)).revoked.map((r) => r.serialNumber)).toEqual([cert.serialNumber]);
    vi.setSystemTime(start + 3 * HOUR);
    const later = await issuer.crl(store);
    expect(later.revoked).toEqual([]);
    expect(new x509.X509Crl(later.der).entries).toHaveLength(0);
  });

  it('is signed by the new intermediate after a replacement and still lists leaves of the old one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ intermediateLifetimeMs: 90 * 24 * HOUR, leafLifetimeMs: 40 * 24 * HOUR });
    await issuer.rootCertificate(store);
    vi.setSystemTime(start + 45 * 24 * HOUR);
    const old = await issue(issuer, store, ['a.example.test']);
    vi.setSystemTime(start + 52 * 24 * HOUR); // under 40 days left: the intermediate can no longer cover a whole leaf
    const fresh = await issue(issuer, store, ['a.example.test']);
    await issuer.revoke(old, 'keyCompromise', contextOf(store));
    const crl = new x509.X509Crl((await issuer.crl(store)).der);
    expect(await crl.verify({ publicKey: new x509.X509Certificate(fresh.chain) }, crypto)).toBe(true);
    expect(fresh.chain).not.toBe(old.chain);
    expect(crl.findRevoked(old.serialNumber)).not.toBeNull();
  });
});
