/**
 * RevocationChecker against CRLs made by LocalIssuer (no network: an injected
 * fetch serves them): listed and unlisted serials, CRLs it must not believe
 * (bad signature, another CA, wrong shard, delta, stale), download limits, and
 * a cache that follows nextUpdate within its bounds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CertpilotError } from '../../../src/errors.js';
import { LocalIssuer } from '../../../src/local/issuer.js';
import { caPaths, loadCa } from '../../../src/local/ca.js';
import { provider, x509 } from '../../../src/local/x509.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { RevocationChecker, type RevocationCheckerOptions } from '../../../src/renewal/crl.js';
import { RevocationWatch } from '../../../src/renewal/revocation.js';
import { normalizeSerial, parseIssuingDistributionPoint } from '../../../src/renewal/crl-der.js';
import type { ManagedCertificate } from '../../../src/certificate.js';
import { contextOf, issue } from '../local/fixtures.js';

const URL = 'http://crl.example.test/local.crl';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

beforeEach(() => {
  // Only Date: LocalIssuer signs CRLs with the fake time, WebCrypto keeps running for real.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-03-01T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

/** A LocalIssuer whose leaves point at URL, and a fetch that serves `body()` (its current CRL by default). */
async function setup(issuerOptions: { crlLifetimeMs?: number } = {}, checkerOptions: RevocationCheckerOptions = {}) {
  const store = new MemoryStore();
  const issuer = new LocalIssuer({ crlUrl: URL, ...issuerOptions });
  const fetched: string[] = [];
  const errors: CertpilotError[] = [];
  const state = { body: async (): Promise<Buffer | Response> => (await issuer.crl(store)).der };
  const checker = new RevocationChecker({
    fetch: async (url) => {
      fetched.push(url);
      const body = await state.body();
      return body instanceof Response ? body : new Response(new Uint8Array(body), { headers: { 'content-type': 'application/pkix-crl' } });
    },
    onError: (error) => errors.push(error),
    ...checkerOptions,
  });
  const leaf = (domain = 'a.example.test') => issue(issuer, store, [domain]);
  return { store, issuer, checker, fetched, errors, state, leaf };
}

/** A CRL signed by the LocalIssuer's current intermediate, with whatever extensions a test needs. */
async function signCrl(store: MemoryStore, options: { serials?: string[]; extensions?: x509.Extension[]; thisUpdate?: Date; nextUpdate?: Date } = {}): Promise<Buffer> {
  const ca = (await loadCa(store, caPaths('certpilot-local-ca')))!;
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.intermediate.cert.subjectName,
    thisUpdate: options.thisUpdate ?? new Date(Date.now() - MINUTE),
    nextUpdate: options.nextUpdate ?? new Date(Date.now() + HOUR),
    signingKey: ca.intermediate.signer.key,
    signingAlgorithm: ca.intermediate.signer.algorithm,
    extensions: options.extensions ?? [],
    entries: (options.serials ?? []).map((serialNumber) => ({ serialNumber, revocationDate: new Date() })),
  }, provider);
  return Buffer.from(crl.rawData);
}

/** DER of an issuingDistributionPoint naming `uri`, built by hand to test the parser independently. */
function idpDer(uri: string, flags: number[] = []): Buffer {
  const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);
  const name = tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(uri, 'latin1'))));
  return tlv(0x30, Buffer.concat([name, ...flags.map((tag) => tlv(tag, Buffer.from([0xff])))]));
}

describe('RevocationChecker', () => {
  it('finds a revoked serial and clears one that is not listed, with one download for both', async () => {
    const { store, issuer, checker, fetched, errors, leaf } = await setup();
    const revoked = await leaf('r.example.test');
    const kept = await leaf('k.example.test');
    await issuer.revoke(revoked, 'keyCompromise', contextOf(store));
    expect(checker.distributionPoint(revoked)).toBe(URL);
    expect(await checker.isRevoked(revoked)).toBe(true);
    expect(await checker.isRevoked(kept)).toBe(false);
    expect(fetched).toEqual([URL]);
    expect(errors).toEqual([]);
  });

  it('accepts a PEM body and leading zeros in serials', async () => {
    const { store, issuer, checker, state, leaf } = await setup();
    const cert = await leaf();
    await issuer.revoke(cert, 'superseded', contextOf(store));
    state.body = async () => Buffer.from((await issuer.crl(store)).pem);
    expect(await checker.isRevoked(cert)).toBe(true);
    expect(normalizeSerial('00:0A:bc')).toBe('abc');
  });

  it('answers undefined, without a download, for a certificate with no distribution point', async () => {
    const store = new MemoryStore();
    const plain = await issue(new LocalIssuer(), store, ['plain.example.test']);
    const { checker, fetched, errors } = await setup();
    expect(checker.distributionPoint(plain)).toBeUndefined();
    expect(await checker.isRevoked(plain)).toBeUndefined();
    expect(fetched).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('rejects a CRL whose signature is broken: undefined, one error per download', async () => {
    const { store, issuer, checker, errors, state, leaf } = await setup();
    const cert = await leaf();
    const other = await leaf('b.example.test');
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    const der = Buffer.from((await issuer.crl(store)).der);
    der[der.length - 2]! ^= 0x01; // inside the signature value
    state.body = async () => der;
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(await checker.isRevoked(other)).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'CERTIFICATE_CHECK_FAILED', details: { url: URL, stage: 'signature' } });
  });

  it('rejects a CRL signed by another CA with the same names (a key it does not know)', async () => {
    const { store, issuer, checker, errors, state, leaf } = await setup();
    const cert = await leaf();
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    // Same CA name on another store: same subject, different keys.
    const impostor = new LocalIssuer({ crlUrl: URL });
    const otherStore = new MemoryStore();
    state.body = async () => (await impostor.crl(otherStore)).der;
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(errors[0]).toMatchObject({ details: { stage: 'signature' } });
    void store;
  });

  it('rejects a CRL from another issuer name, and a chain that lacks the issuer', async () => {
    const { store, checker, errors, state, leaf } = await setup();
    const cert = await leaf();
    const foreign = new LocalIssuer({ name: 'other CA' });
    state.body = async () => (await foreign.crl(store)).der;
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(errors.at(-1)).toMatchObject({ details: { stage: 'issuer' } });
    const orphan: ManagedCertificate = { ...cert, chain: '' };
    expect(await checker.isRevoked(orphan)).toBeUndefined();
    expect(errors.at(-1)!.message).toContain('does not hold the certificate that signed it');
  });

  it('believes only a CRL for this distribution point, complete and for leaves', async () => {
    const { store, checker, errors, state, leaf } = await setup();
    const cert = await leaf();
    const idp = (der: Buffer) => new x509.Extension('2.5.29.28', true, der);
    expect(parseIssuingDistributionPoint(idpDer(URL, [0x82]))).toEqual({ uris: [URL], notForLeaves: true, someReasons: false, indirect: false });

    state.body = () => signCrl(store, { extensions: [idp(idpDer(URL))] });
    expect(await checker.isRevoked(cert)).toBe(false);

    const cases: Array<[string, x509.Extension]> = [
      ['another shard', idp(idpDer('http://crl.example.test/other.crl'))],
      ['CA certificates only', idp(idpDer(URL, [0x82]))],
      ['indirect', idp(idpDer(URL, [0x84]))],
      ['delta', new x509.Extension('2.5.29.27', true, Buffer.from([0x02, 0x01, 0x01]))],
    ];
    for (const [, extension] of cases) {
      checker.clear();
      state.body = () => signCrl(store, { extensions: [extension] });
      expect(await checker.isRevoked(cert)).toBeUndefined();
      expect(errors.at(-1)).toMatchObject({ details: { stage: 'scope' } });
    }
    expect(errors).toHaveLength(cases.length);
  });

  it('treats a stale CRL as unknown, but a listing in it as revoked', async () => {
    const { store, checker, errors, state, leaf } = await setup();
    const listed = await leaf();
    const unlisted = await leaf('u.example.test');
    const crl = await signCrl(store, { serials: [listed.serialNumber], nextUpdate: new Date(Date.now() - MINUTE) });
    state.body = async () => crl;
    expect(await checker.isRevoked(listed)).toBe(true);
    expect(await checker.isRevoked(unlisted)).toBeUndefined();
    expect(errors.map((e) => e.details.stage)).toEqual(['stale']);
  });

  it('reports failed downloads (status, size, timeout) and does not retry them within a minute', async () => {
    const { checker, fetched, errors, state, leaf } = await setup({}, { maxBytes: 1000, timeoutMs: 200 });
    const cert = await leaf();
    state.body = async () => new Response('gone', { status: 404 });
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(fetched).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain('HTTP 404');

    vi.setSystemTime(Date.now() + MINUTE + 1);
    state.body = async () => new Response(new Uint8Array(5000));
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(errors.at(-1)!.message).toContain('limit of 1000');

    vi.setSystemTime(Date.now() + MINUTE + 1);
    // A server that sends headers and then nothing: the timeout covers the body too.
    state.body = async () => new Response(new ReadableStream({ start() {} }));
    expect(await checker.isRevoked(cert)).toBeUndefined();
    expect(errors.at(-1)).toMatchObject({ code: 'TIMEOUT' });
  });

  it('reuses a CRL until its nextUpdate, at least a minute and at most a day', async () => {
    const cases = [
      { lifetime: 2 * HOUR, cachedFor: 2 * HOUR },
      { lifetime: 5_000, cachedFor: MINUTE },
      { lifetime: 3 * 24 * HOUR, cachedFor: 24 * HOUR },
    ];
    for (const { lifetime, cachedFor } of cases) {
      vi.setSystemTime(new Date('2026-03-01T00:00:00Z'));
      const { checker, fetched, errors, state, store, leaf } = await setup({ crlLifetimeMs: lifetime });
      const cert = await leaf();
      // A fixed CRL signed now, so the only clock that matters is the checker's.
      const der = await signCrl(store, { thisUpdate: new Date(Date.now() - 1000), nextUpdate: new Date(Date.now() + lifetime) });
      state.body = async () => (fetched.length === 1 ? der : signCrl(store, { nextUpdate: new Date(Date.now() + lifetime) }));
      const start = Date.now();
      expect(await checker.isRevoked(cert)).toBe(false);
      vi.setSystemTime(start + cachedFor - 2000);
      await checker.isRevoked(cert);
      expect(fetched).toHaveLength(1);
      vi.setSystemTime(start + cachedFor + 1000);
      await checker.isRevoked(cert);
      expect(fetched).toHaveLength(2);
      expect(errors).toEqual([]);
    }
  });
});

describe('RevocationWatch', () => {
  it('checks each name at most once per interval, retries sooner after "cannot tell", and keeps a revocation', async () => {
    const { store, issuer, leaf } = await setup();
    const fetched: number[] = [];
    let broken = false;
    const errors: string[] = [];
    const watch = new RevocationWatch({
      intervalMs: 6 * HOUR,
      minCacheMs: 1000,
      maxCacheMs: 1000, // every due check downloads, so downloads count checks
      fetch: async () => {
        fetched.push(Date.now());
        return broken ? new Response('', { status: 503 }) : new Response(new Uint8Array((await issuer.crl(store)).der));
      },
      onError: (_error, name) => errors.push(name),
    });
    const cert = await leaf();
    const t0 = Date.now();
    expect(await watch.check('api', cert)).toBe(false);
    expect(watch.nextCheckAt('api')).toBe(t0 + 6 * HOUR);
    vi.setSystemTime(t0 + 5 * HOUR);
    expect(await watch.check('api', cert)).toBe(false);
    expect(fetched).toHaveLength(1);

    vi.setSystemTime(t0 + 6 * HOUR);
    broken = true;
    expect(await watch.check('api', cert)).toBe(false);
    expect(errors).toEqual(['api']);
    expect(watch.nextCheckAt('api')).toBe(Date.now() + HOUR);

    broken = false;
    await issuer.revoke(cert, 'keyCompromise', contextOf(store));
    vi.setSystemTime(Date.now() + HOUR);
    expect(await watch.check('api', cert)).toBe(true);
    vi.setSystemTime(Date.now() + 7 * HOUR);
    expect(await watch.check('api', cert)).toBe(true);
    expect(fetched).toHaveLength(3);
    expect(watch.nextCheckAt('api')).toBeUndefined();

    // the replacement is a new certificate: checked at once
    const replacement = await leaf();
    expect(await watch.check('api', replacement)).toBe(false);
    expect(fetched).toHaveLength(4);
  });

  it('never schedules a certificate that names no CRL', async () => {
    const watch = new RevocationWatch({ fetch: async () => { throw new Error('no fetch expected'); } });
    const plain = await issue(new LocalIssuer(), new MemoryStore(), ['plain.example.test']);
    expect(await watch.check('plain', plain)).toBe(false);
    expect(watch.nextCheckAt('plain')).toBeUndefined();
  });
});
