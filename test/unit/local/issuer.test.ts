/** LocalIssuer issuance: one CA per name and store, leaves that TLS clients accept, lifetimes, keys and rotation of the intermediate. */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isCertpilotError } from '../../../src/errors.js';
import { LocalIssuer } from '../../../src/local/issuer.js';
import { FileStore } from '../../../src/storage/file.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { checkCertificate } from '../../../src/x509/check.js';
import { contextOf, issue, nodeCerts, recordSets, x509 } from './fixtures.js';

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

describe('the CA', () => {
  it('is created on first use and reused by every instance with the same name on the store', async () => {
    const store = new MemoryStore();
    const first = await issue(new LocalIssuer(), store, ['a.example.test']);
    const second = await issue(new LocalIssuer(), store, ['b.example.test']);
    expect(second.chain).toBe(first.chain);
    const root = await new LocalIssuer().rootCertificate(store);
    expect(await new LocalIssuer().rootCertificate({ store })).toBe(root);
    const keys = await store.list('local-ca/');
    expect(keys.filter((k) => k.endsWith('/cert.pem'))).toHaveLength(2); // one root, one intermediate
    // Another name is another CA.
    const other = await issue(new LocalIssuer({ name: 'lab CA' }), store, ['c.example.test']);
    expect(other.chain).not.toBe(first.chain);
    expect(await new LocalIssuer({ name: 'lab CA' }).rootCertificate(store)).not.toBe(root);
    expect(await store.list('local-ca/lab-ca/')).toContain('local-ca/lab-ca/root/cert.pem');
  });

  it('is created once when instances issue concurrently for the first time', async () => {
    const store = new MemoryStore();
    const certs = await Promise.all(Array.from({ length: 6 }, (_, i) => issue(new LocalIssuer(), store, [`n${i}.example.test`])));
    expect(new Set(certs.map((c) => c.chain)).size).toBe(1);
    const intermediates = (await store.list('local-ca/certpilot-local-ca/intermediates/')).filter((k) => k.endsWith('/cert.pem'));
    expect(intermediates).toHaveLength(1);
  });

  it('works on a FileStore: two stores on one directory share one CA, keys are 0600, the root sits at a fixed path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-local-'));
    try {
      const stores = [new FileStore({ directory: dir }), new FileStore({ directory: dir })];
      const certs = await Promise.all(stores.map((store, i) => issue(new LocalIssuer(), store, [`n${i}.example.test`])));
      expect(certs[0]!.chain).toBe(certs[1]!.chain);
      const base = path.join(dir, 'local-ca', 'certpilot-local-ca');
      expect(await readFile(path.join(base, 'root', 'cert.pem'), 'utf8')).toBe(await new LocalIssuer().rootCertificate(stores[0]!));
      expect((await stat(path.join(base, 'root', 'key.pem'))).mode & 0o777).toBe(0o600);
      await Promise.all(stores.map((store) => store.close()));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes its private keys as sensitive and its certificates as public', async () => {
    const store = new MemoryStore();
    const sets = recordSets(store);
    await issue(new LocalIssuer(), store, ['a.example.test']);
    const keys = [...sets.keys()].filter((k) => k.endsWith('/key.pem'));
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(sets.get(key)?.sensitive).toBe(true);
    for (const [key, options] of sets) if (key.endsWith('/cert.pem')) expect(options?.sensitive).not.toBe(true);
  });

  it('has a self-signed root and an intermediate limited to signing leaves', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ name: 'Example Dev CA', keyType: 'ecdsa-p384' });
    const cert = await issue(issuer, store, ['a.example.test'], { keyType: 'ecdsa-p256' });
    const [rootNode] = nodeCerts(await issuer.rootCertificate(store));
    const [intermediateNode] = nodeCerts(cert.chain);
    expect(rootNode!.ca).toBe(true);
    expect(rootNode!.checkIssued(rootNode!)).toBe(true);
    expect(rootNode!.verify(rootNode!.publicKey)).toBe(true);
    expect(rootNode!.subject).toContain('CN=Example Dev CA Root');
    expect(intermediateNode!.subject).toContain('CN=Example Dev CA Intermediate');
    expect(intermediateNode!.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    const intermediate = new x509.X509Certificate(cert.chain);
    expect(intermediate.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0, critical: true });
    expect(intermediate.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-384' } });
    const root = new x509.X509Certificate(await issuer.rootCertificate(store));
    expect(intermediate.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(root.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
  });
});

describe('leaves', () => {
  it('chain to the intermediate and the root, with a fullchain that leaves the root out', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const cert = await issue(issuer, store, ['example.test', '*.example.test']);
    checkCertificate(cert);
    const chain = nodeCerts(cert.fullchain);
    expect(chain).toHaveLength(2);
    const [leaf, intermediate] = chain as [typeof chain[0], typeof chain[0]];
    const [root] = nodeCerts(await issuer.rootCertificate(store));
    expect(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey)).toBe(true);
    expect(intermediate.checkIssued(root!) && intermediate.verify(root!.publicKey)).toBe(true);
    expect(leaf.verify(root!.publicKey)).toBe(false);
    expect(chain.some((c) => c.fingerprint256 === root!.fingerprint256)).toBe(false);
    expect(leaf.ca).toBe(false);
  });

  it('carry every domain (wildcards included) as DNS SANs, serverAuth, key identifiers and a random positive serial', async () => {
    const store = new MemoryStore();
    const domains = ['example.test', '*.example.test', 'api.internal.test'];
    const cert = await issue(new LocalIssuer(), store, domains);
    const leaf = new x509.X509Certificate(cert.cert);
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.items.map((n) => [n.type, n.value])).toEqual(domains.map((d) => ['dns', d]));
    expect(nodeCerts(cert.cert)[0]!.checkHost('foo.example.test')).toBe('*.example.test');
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(leaf.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const intermediate = new x509.X509Certificate(cert.chain);
    expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(intermediate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    expect(leaf.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(leaf.getExtension(x509.CRLDistributionPointsExtension)).toBeNull();
    expect(leaf.subject).toBe('CN=example.test');
    // Positive (top bit clear) and at least 64 bits; two leaves never share a serial.
    expect(cert.serialNumber.length).toBeGreaterThanOrEqual(16);
    expect(Number.parseInt(cert.serialNumber.slice(0, 2), 16)).toBeLessThan(0x80);
    const again = await issue(new LocalIssuer(), store, domains);
    expect(again.serialNumber).not.toBe(cert.serialNumber);
  });

  it('honour the leaf lifetime, with notBefore set back a minute', async () => {
    const store = new MemoryStore();
    const before = Date.now();
    const cert = await issue(new LocalIssuer({ leafLifetimeMs: 2 * HOUR }), store, ['a.example.test']);
    const after = Date.now();
    expect(cert.notAfter.getTime()).toBeGreaterThanOrEqual(Math.floor((before + 2 * HOUR) / 1000) * 1000);
    expect(cert.notAfter.getTime()).toBeLessThanOrEqual(after + 2 * HOUR);
    expect(cert.notBefore.getTime()).toBeGreaterThanOrEqual(Math.floor((before - 60_000) / 1000) * 1000);
    expect(cert.notBefore.getTime()).toBeLessThanOrEqual(after - 59_000);
    const day = await issue(new LocalIssuer(), store, ['a.example.test']);
    expect(day.notAfter.getTime() - day.notBefore.getTime()).toBe(24 * HOUR + 60_000);
  });

  it('set notBefore back by at most a tenth of a short lifetime, so ratio renewal still works', async () => {
    const store = new MemoryStore();
    const before = Date.now();
    const cert = await issue(new LocalIssuer({ leafLifetimeMs: 5000, intermediateLifetimeMs: HOUR }), store, ['a.example.test']);
    expect(cert.notBefore.getTime()).toBeGreaterThanOrEqual(Math.floor((before - 500) / 1000) * 1000);
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBeLessThanOrEqual(7000);
  });

  it('use the request key when one is given, else a new key of the request key type', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const sec1 = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const withKey = await issue(issuer, store, ['a.example.test'], { key: sec1 });
    expect(withKey.key).toContain('BEGIN PRIVATE KEY'); // normalised to PKCS#8
    expect(withKey.keyType).toBe('ecdsa-p384');
    expect(nodeCerts(withKey.cert)[0]!.checkPrivateKey(createPrivateKey(sec1))).toBe(true);
    const rsa = await issue(issuer, store, ['b.example.test'], { keyType: 'rsa-2048' });
    expect(rsa.keyType).toBe('rsa-2048');
    expect(createPublicKey(rsa.key).asymmetricKeyType).toBe('rsa');
    const usage = new x509.X509Certificate(rsa.cert).getExtension(x509.KeyUsagesExtension)!.usages;
    expect(usage).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    checkCertificate(rsa);
  });

  it('name the CRL distribution point when crlUrl is set', async () => {
    const cert = await issue(new LocalIssuer({ crlUrl: 'http://ca.internal.test/crl' }), new MemoryStore(), ['a.example.test']);
    const dp = new x509.X509Certificate(cert.cert).getExtension(x509.CRLDistributionPointsExtension);
    expect(JSON.stringify(dp?.distributionPoints)).toContain('http://ca.internal.test/crl');
  });

  it('are refused with ABORTED when the signal is aborted; a bad key or domain list is a typed error', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(issuer.issue({ name: 'x', domains: ['a.example.test'], keyType: 'ecdsa-p256' }, contextOf(store, controller.signal)))).toBe('ABORTED');
    expect(await codeOf(issuer.issue({ name: 'x', domains: ['a.example.test'], keyType: 'ecdsa-p256', key: 'not a key' }, contextOf(store)))).toBe('INVALID_PEM');
    const { privateKey } = generateKeyPairSync('ed25519');
    const ed = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(await codeOf(issuer.issue({ name: 'x', domains: ['a.example.test'], keyType: 'ecdsa-p256', key: ed }, contextOf(store)))).toBe('INVALID_KEY_TYPE');
    expect(await codeOf(issuer.issue({ name: 'x', domains: [], keyType: 'ecdsa-p256' }, contextOf(store)))).toBe('INVALID_DOMAIN');
    expect(await codeOf(issuer.crl({} as never))).toBe('INVALID_OPTIONS');
  });
});

describe('the intermediate', () => {
  it('is replaced under the same root when a third of its life remains; older leaves still verify', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ intermediateLifetimeMs: 90 * 24 * HOUR });
    const old = await issue(issuer, store, ['a.example.test']);
    vi.setSystemTime(start + 50 * 24 * HOUR); // 40 days of 90 left: not yet
    expect((await issue(issuer, store, ['a.example.test'])).chain).toBe(old.chain);
    vi.setSystemTime(start + 61 * 24 * HOUR); // 29 days of 90 left: replace
    const fresh = await issue(issuer, store, ['a.example.test']);
    expect(fresh.chain).not.toBe(old.chain);
    const [root] = nodeCerts(await issuer.rootCertificate(store));
    for (const cert of [old, fresh]) {
      const [leaf, intermediate] = nodeCerts(cert.fullchain);
      expect(leaf!.verify(intermediate!.publicKey) && intermediate!.verify(root!.publicKey)).toBe(true);
    }
    expect((await store.list('local-ca/certpilot-local-ca/intermediates/')).filter((k) => k.endsWith('/cert.pem'))).toHaveLength(2);
    // Both intermediates carry the same subject: the key identifiers tell them apart.
    expect(nodeCerts(fresh.chain)[0]!.subject).toBe(nodeCerts(old.chain)[0]!.subject);
  });

  it('never outlives the root, and a root too close to expiry is a typed error rather than a silent new root', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ rootLifetimeMs: 10 * HOUR, intermediateLifetimeMs: 10 * HOUR, leafLifetimeMs: HOUR });
    const first = await issue(issuer, store, ['a.example.test']);
    const [root] = nodeCerts(await issuer.rootCertificate(store));
    expect(new Date(nodeCerts(first.chain)[0]!.validTo).getTime()).toBeLessThanOrEqual(new Date(root!.validTo).getTime());
    vi.setSystemTime(start + 9.5 * HOUR);
    const error = await issuer.issue({ name: 'x', domains: ['a.example.test'], keyType: 'ecdsa-p256' }, contextOf(store)).catch((e: unknown) => e);
    expect(isCertpilotError(error) && error.code).toBe('CERTIFICATE_CHECK_FAILED');
    expect((error as Error).message).toContain('local-ca/certpilot-local-ca/');
  });
});

describe('damaged state', () => {
  it('is reported as STORE_CORRUPT, never replaced by a new CA', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer();
    await issue(issuer, store, ['a.example.test']);
    const root = await issuer.rootCertificate(store);
    const [intermediateKey] = (await store.list('local-ca/')).filter((k) => k.includes('/intermediates/') && k.endsWith('/key.pem'));
    await store.delete(intermediateKey!);
    expect(await codeOf(issuer.issue({ name: 'x', domains: ['a.example.test'], keyType: 'ecdsa-p256' }, contextOf(store)))).toBe('STORE_CORRUPT');
    await store.set('local-ca/certpilot-local-ca/ca.json', '{');
    expect(await codeOf(issuer.rootCertificate(store))).toBe('STORE_CORRUPT');
    expect((await store.get('local-ca/certpilot-local-ca/root/cert.pem'))?.toString()).toBe(root);
  });
});
