/**
 * The core against a real Pebble + pebble-challtestsrv: issuance, idempotence,
 * single-flight, rotation, revocation, and failures that keep the old certificate.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateManager } from '../../src/manager.js';
import { FileStore } from '../../src/storage/file.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { DnsProvider } from '../../src/challenges/provider.js';
import { isCertpilotError } from '../../src/errors.js';
import { accountPrefix } from '../../src/acme/account.js';
import type { CertificateRotatedEvent } from '../../src/events.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { pebbleIssuer, pebbleManager, tempDir, verifyChain } from '../helpers/manager.js';

let pebble: Pebble;

beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

async function txtValues(host: string): Promise<string[]> {
  const { Resolver } = await import('node:dns/promises');
  const resolver = new Resolver();
  resolver.setServers([pebble.dnsServer]);
  try {
    return (await resolver.resolveTxt(host)).map((chunks) => chunks.join(''));
  } catch {
    return [];
  }
}

describe('issuance', () => {
  it('issues an apex + wildcard certificate whose chain verifies against Pebble\'s root', async () => {
    const manager = pebbleManager(pebble);
    const rotated: CertificateRotatedEvent[] = [];
    manager.on('certificate:rotated', (e) => rotated.push(e));
    const cert = await manager.provision({ name: 'apex', domains: ['apex.example.test', '*.apex.example.test'] });
    await verifyChain(pebble, cert.fullchain);
    const leaf = new X509Certificate(cert.cert);
    expect(leaf.subjectAltName).toContain('DNS:apex.example.test');
    expect(leaf.subjectAltName).toContain('DNS:*.apex.example.test');
    expect(cert.serialNumber).toMatch(/^[0-9a-f]+$/);
    expect(cert.keyType).toBe('ecdsa-p256');
    expect(cert.fullchain.startsWith(cert.cert)).toBe(true);
    expect(cert.key).toContain('BEGIN PRIVATE KEY');
    expect(manager.get('apex')?.serialNumber).toBe(cert.serialNumber);
    expect(rotated).toHaveLength(1);
    expect(rotated[0]!.cause).toBe('issued');
    expect(rotated[0]!.previous).toBeUndefined();
    expect(JSON.stringify(rotated)).not.toContain('PRIVATE KEY');
    // cleanup always runs: no challenge record is left behind
    expect(await txtValues('_acme-challenge.apex.example.test')).toEqual([]);
    await manager.close();
  });

  it.each(['rsa-2048', 'ecdsa-p384'] as const)('issues a %s certificate', async (keyType) => {
    const manager = pebbleManager(pebble);
    const cert = await manager.provision({ name: `kt-${keyType}`, domains: [`${keyType}.example.test`], keyType });
    expect(cert.keyType).toBe(keyType);
    const pub = createPublicKey(new X509Certificate(cert.cert).publicKey.export({ type: 'spki', format: 'pem' }));
    expect(pub.asymmetricKeyType).toBe(keyType.startsWith('rsa') ? 'rsa' : 'ec');
    await manager.close();
  });
});

describe('idempotence and single flight', () => {
  it('serves a stored certificate after a restart without a new order', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const first = pebbleManager(pebble, { store: new FileStore({ directory: dir }) });
      const issued = await first.provision({ name: 'idem', domains: ['idem.example.test', 'www.idem.example.test'] });
      await first.close();
      const orders = pebble.orderCount();
      const second = pebbleManager(pebble, { store: new FileStore({ directory: dir }) });
      const causes: string[] = [];
      second.on('certificate:rotated', (e) => causes.push(e.cause));
      // same names in another order: still the same set
      const again = await second.provision({ name: 'idem', domains: ['www.idem.example.test', 'IDEM.example.test.'] });
      expect(again.serialNumber).toBe(issued.serialNumber);
      expect(pebble.orderCount()).toBe(orders);
      expect(causes).toEqual(['loaded']);
      // a changed set orders a new one
      const changed = await second.provision({ name: 'idem', domains: ['idem.example.test'] });
      expect(changed.serialNumber).not.toBe(issued.serialNumber);
      expect(pebble.orderCount()).toBe(orders + 1);
      expect(causes).toEqual(['loaded', 'domains-changed']);
      await second.close();
    } finally {
      await cleanup();
    }
  });

  it('places one order for concurrent provisions of one name', async () => {
    const manager = pebbleManager(pebble);
    const before = pebble.orderCount();
    const spec = { name: 'flight', domains: ['flight.example.test'] };
    const results = await Promise.all([manager.provision(spec), manager.provision(spec), manager.provision({ ...spec })]);
    expect(new Set(results.map((r) => r.serialNumber)).size).toBe(1);
    expect(pebble.orderCount()).toBe(before + 1);
    await manager.close();
  });

  it('two managers on one store place one order', async () => {
    const store = new MemoryStore();
    const a = pebbleManager(pebble, { store });
    const b = pebbleManager(pebble, { store });
    const before = pebble.orderCount();
    const spec = { name: 'shared', domains: ['shared.example.test'] };
    const [x, y] = await Promise.all([a.provision(spec), b.provision(spec)]);
    expect(x.serialNumber).toBe(y.serialNumber);
    expect(pebble.orderCount()).toBe(before + 1);
    await Promise.all([a.close(), b.close()]);
  });
  it('challenge events of concurrent orders name their own certificate', async () => {
    const manager = pebbleManager(pebble);
    const seen: Array<{ name: string; domain: string; type: string }> = [];
    for (const type of ['presented', 'propagated', 'cleaned'] as const) {
      manager.on(`challenge:${type}`, (e) => seen.push({ name: e.name, domain: e.domain, type }));
    }
    await Promise.all([
      manager.provision({ name: 'ev-a', domains: ['a.events.example.test', '*.a.events.example.test'] }),
      manager.provision({ name: 'ev-b', domains: ['b.events.example.test'] }),
    ]);
    expect(seen.filter((e) => e.type === 'presented')).toHaveLength(3);
    expect(seen.filter((e) => e.type === 'cleaned')).toHaveLength(3);
    for (const e of seen) expect(e.domain.includes(e.name === 'ev-a' ? 'a.events' : 'b.events')).toBe(true);
    await manager.close();
  });
});

describe('rotate and revoke', () => {
  it('rotate issues a new certificate with a new key and emits rotated with previous', async () => {
    const manager = pebbleManager(pebble);
    const first = await manager.provision({ name: 'rot', domains: ['rot.example.test'] });
    const events: CertificateRotatedEvent[] = [];
    manager.on('certificate:rotated', (e) => events.push(e));
    const second = await manager.rotate('rot');
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(second.key).not.toBe(first.key);
    expect(manager.get('rot')?.serialNumber).toBe(second.serialNumber);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ name: 'rot', cause: 'manual' });
    expect(events[0]!.previous?.serialNumber).toBe(first.serialNumber);
    await manager.close();
  });

  it.each([
    ['unspecified', 0],
    ['keyCompromise', 1],
    ['superseded', 4],
    ['cessationOfOperation', 5],
  ] as const)('revoke with %s replaces first, then revokes at the CA', async (reason, code) => {
    const manager = pebbleManager(pebble);
    const old = await manager.provision({ name: `rev-${code}`, domains: [`rev${code}.example.test`] });
    const revoked: unknown[] = [];
    manager.on('certificate:revoked', (e) => revoked.push(e));
    const replacement = await manager.revoke(`rev-${code}`, { reason });
    expect(replacement.serialNumber).not.toBe(old.serialNumber);
    expect(manager.get(`rev-${code}`)?.serialNumber).toBe(replacement.serialNumber);
    const status = await pebble.certStatus(old.serialNumber);
    expect(status.Status).toBe('Revoked');
    expect(status.Reason ?? 0).toBe(code);
    expect((await pebble.certStatus(replacement.serialNumber)).Status).toBe('Valid');
    expect(revoked).toHaveLength(1);
    await manager.close();
  });

  it('refuses reasons public CAs do not accept, before contacting the CA', async () => {
    const manager = pebbleManager(pebble);
    await manager.provision({ name: 'badreason', domains: ['badreason.example.test'] });
    const serial = manager.get('badreason')!.serialNumber;
    expect(() => manager.revoke('badreason', { reason: 'affiliationChanged' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_REVOCATION_REASON' }),
    );
    expect(manager.get('badreason')!.serialNumber).toBe(serial);
    await manager.close();
  });
});

describe('secrets', () => {
  it('no event payload or error carries key material', async () => {
    const manager = pebbleManager(pebble);
    const payloads: unknown[] = [];
    const names = ['certificate:issued', 'certificate:rotated', 'certificate:revoked', 'certificate:expiring', 'certificate:failed',
      'challenge:presented', 'challenge:propagated', 'challenge:cleaned', 'challenge:failed', 'error'] as const;
    for (const n of names) manager.on(n, (p: unknown) => payloads.push(p));
    const cert = await manager.provision({ name: 'secret', domains: ['secret.example.test'] });
    await manager.rotate('secret');
    await manager.revoke('secret', { reason: 'keyCompromise' });
    const bad = await manager.revoke('secret', { reason: 'superseded' }).then(() => undefined, (e: unknown) => e);
    const text = JSON.stringify(payloads) + JSON.stringify(bad ?? null);
    expect(payloads.length).toBeGreaterThan(8);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(cert.key.split('\n')[1]!);
    await manager.close();
  });
});

describe('failures keep the active certificate', () => {
  it('a failing DNS provider leaves the old certificate active and no record behind', async () => {
    const real = pebbleIssuer(pebble);
    const store = new MemoryStore();
    const manager = new CertificateManager({ store, issuer: real });
    const good = await manager.provision({ name: 'fail', domains: ['fail.example.test', '*.fail.example.test'] });
    const inner = (await import('../../providers/challtestsrv/index.js')).challtestsrv({ managementUrl: pebble.challtestsrv!.managementUrl });
    let calls = 0;
    // Appends the first record for real, then fails: the solver must remove what it created.
    const flaky: DnsProvider = {
      name: 'flaky',
      async appendRecords(zone, records, opts) {
        calls++;
        if (calls > 1) throw new Error('provider exploded token=abcdef123');
        return inner.appendRecords(zone, records.slice(0, 1), opts).then(async (created) => {
          throw Object.assign(new Error('partial failure'), { created });
        });
      },
      deleteRecords: (zone, records, opts) => inner.deleteRecords(zone, records, opts),
    };
    const failing = new CertificateManager({ store, issuer: pebbleIssuer(pebble, { dns: flaky }) });
    await failing.provision({ name: 'fail', domains: ['fail.example.test', '*.fail.example.test'] });
    const failed: unknown[] = [];
    failing.on('certificate:failed', (e) => failed.push(e));
    const error = await failing.rotate('fail').catch((e: unknown) => e);
    expect(isCertpilotError(error)).toBe(true);
    expect((error as Error).message).not.toContain('abcdef123');
    expect(failing.get('fail')?.serialNumber).toBe(good.serialNumber);
    expect(failed).toHaveLength(1);
    expect(failing.status()[0]).toMatchObject({ name: 'fail', attempts: 1, lastError: { code: (error as { code: string }).code } });
    expect(await txtValues('_acme-challenge.fail.example.test')).toEqual([]);
    // the store still points at the good one
    const reader = new CertificateManager({ store });
    await reader.sync();
    expect(reader.get('fail')?.serialNumber).toBe(good.serialNumber);
    await Promise.all([manager.close(), failing.close(), reader.close()]);
  });
});

describe('CA behaviour', () => {
  it('succeeds when Pebble rejects half of all nonces', async () => {
    const noisy = await startPebble({ nonceRejectPercent: 50 });
    try {
      const manager = pebbleManager(noisy);
      for (let i = 0; i < 3; i++) {
        const cert = await manager.provision({ name: `nonce${i}`, domains: [`nonce${i}.example.test`, `*.nonce${i}.example.test`] });
        await verifyChain(noisy, cert.fullchain);
      }
      await manager.close();
    } finally {
      await noisy.stop();
    }
  });

  it('registers with external account binding against a Pebble that requires it', async () => {
    const hmacKey = Buffer.from('certpilot-test-eab-hmac-key-0123456789').toString('base64url');
    const eab = await startPebble({ externalAccountBindingRequired: true, externalAccountMACKeys: { 'kid-1': hmacKey } });
    try {
      const without = pebbleManager(eab);
      const refused = await without.provision({ name: 'eab', domains: ['eab.example.test'] }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: expect.stringMatching(/ACME_EXTERNAL_ACCOUNT_REQUIRED|INVALID_OPTIONS/) });
      await without.close();
      const manager = pebbleManager(eab, { issuerOptions: { externalAccountBinding: { kid: 'kid-1', hmacKey } } });
      const cert = await manager.provision({ name: 'eab', domains: ['eab.example.test'] });
      await verifyChain(eab, cert.fullchain);
      await manager.close();
    } finally {
      await eab.stop();
    }
  });

  it('re-registers when the CA no longer knows the stored account (as after a Pebble restart)', async () => {
    const store = new MemoryStore();
    // An account URL this CA never issued, as a store keeps it across a CA reset.
    const origin = new URL(pebble.directoryUrl).origin;
    await store.set(`${accountPrefix(pebble.directoryUrl, 'default')}/account.json`,
      JSON.stringify({ url: `${origin}/my-account/999999`, directoryUrl: pebble.directoryUrl }));
    const manager = pebbleManager(pebble, { store });
    const cert = await manager.provision({ name: 'reg', domains: ['reg.example.test'] });
    await verifyChain(pebble, cert.fullchain);
    const account = JSON.parse(String(await store.get(`${accountPrefix(pebble.directoryUrl, 'default')}/account.json`)));
    expect(account.url).not.toContain('999999');
    await manager.close();
  });
});

describe('monitor', () => {
  it('renews a short-lived certificate by itself and emits rotated with cause renewed', async () => {
    const short = await startPebble({ certificateValidityPeriod: 6 });
    try {
      const manager = pebbleManager(short);
      const first = await manager.provision({ name: 'short', domains: ['short.example.test'] });
      const renewed = new Promise<CertificateRotatedEvent>((resolve) => {
        manager.on('certificate:rotated', (e) => { if (e.cause === 'renewed') resolve(e); });
      });
      manager.monitor();
      const event = await renewed;
      expect(event.previous?.serialNumber).toBe(first.serialNumber);
      expect(event.current.serialNumber).not.toBe(first.serialNumber);
      // renewed at about half of the 6-second lifetime, not at expiry
      expect(Date.now()).toBeLessThan(first.notAfter.getTime());
      expect(manager.status()[0]).toMatchObject({ name: 'short', attempts: 0 });
      await manager.close();
    } finally {
      await short.stop();
    }
  });
});

describe('order options', () => {
  it('asks for a lifetime through notAfter (Pebble honours it)', async () => {
    const manager = pebbleManager(pebble, { issuerOptions: { lifetimeMs: 3_600_000 } });
    const cert = await manager.provision({ name: 'lifetime', domains: ['lifetime.example.test'] });
    expect(Math.abs(cert.notAfter.getTime() - (Date.now() + 3_600_000))).toBeLessThan(120_000);
    await manager.close();
  });

  it('picks the preferred chain among the alternates the CA offers', async () => {
    const alt = await startPebble({ env: { PEBBLE_ALTERNATE_ROOTS: '1' } });
    try {
      const res = await fetchRoot(alt, 1);
      const cn = /CN=([^\n]+)/.exec(new X509Certificate(res).subject)![1]!;
      const manager = pebbleManager(alt, { issuerOptions: { preferredChain: cn } });
      const cert = await manager.provision({ name: 'chain', domains: ['chain.example.test'] });
      const blocks = cert.fullchain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
      const top = new X509Certificate(blocks.at(-1)!);
      expect(top.issuer).toContain(`CN=${cn}`);
      expect(top.verify(new X509Certificate(res).publicKey)).toBe(true);
      const plain = pebbleManager(alt);
      const other = await plain.provision({ name: 'chain', domains: ['chain.example.test'] });
      const otherTop = new X509Certificate(other.fullchain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.at(-1)!);
      expect(otherTop.issuer).not.toContain(`CN=${cn}`);
      await Promise.all([manager.close(), plain.close()]);
    } finally {
      await alt.stop();
    }
  });
});

async function fetchRoot(p: Pebble, index: number): Promise<string> {
  const { httpsGet } = await import('../helpers/pebble.js');
  const res = await httpsGet(`${p.managementUrl}/roots/${index}`, p.caPem);
  if (res.status !== 200) throw new Error(`roots/${index} answered ${res.status}`);
  return res.body;
}
