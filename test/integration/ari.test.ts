/**
 * ACME Renewal Information against Pebble through a proxy that adds
 * renewalInfo (Pebble 2.4 has none): the CertID asked for, `replaces` on the
 * renewal order, replacement at once when the window has passed, the retry
 * without `replaces` after alreadyReplaced, and no `replaces` without ARI.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateManager } from '../../src/manager.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { CertificateRotatedEvent } from '../../src/events.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startAriProxy, type AriProxy } from '../helpers/ari-proxy.js';
import { pebbleIssuer, verifyChain } from '../helpers/manager.js';

x509.cryptoProvider.set(webcrypto as never);

let pebble: Pebble;
let proxy: AriProxy;

beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAriProxy(pebble);
});
afterAll(async () => {
  await proxy?.close();
  await pebble?.stop();
});

function manager(): CertificateManager {
  return new CertificateManager({
    store: new MemoryStore(),
    issuer: pebbleIssuer(pebble, { directoryUrl: proxy.directoryUrl, caCertificates: [pebble.caPem, proxy.caPem] }),
    checkIntervalMs: 200,
  });
}

/** The CertID computed independently, with @peculiar/x509: base64url(AKI keyIdentifier) "." base64url(serial DER). */
function expectedCertId(pem: string): string {
  const cert = new x509.X509Certificate(pem);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)!;
  let serial = Buffer.from(cert.serialNumber, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${Buffer.from(aki.keyId!, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
}

describe('ARI', () => {
  it('asks for the CA\'s window and replaces at once, with `replaces`, when the window has passed', async () => {
    const m = manager();
    const first = await m.provision({ name: 'ari', domains: ['ari.example.test', '*.ari.example.test'] });
    const id = expectedCertId(first.cert);
    proxy.windows.set(id, { start: new Date(Date.now() - 2 * 86_400_000), end: new Date(Date.now() - 86_400_000) });
    const replaced = new Promise<CertificateRotatedEvent>((resolve) => m.on('certificate:rotated', (e) => resolve(e)));
    const before = proxy.replaces.length;
    m.monitor();
    const event = await replaced;
    expect(proxy.asked).toContain(id);
    expect(event.cause).toBe('revoked');
    expect(event.previous?.serialNumber).toBe(first.serialNumber);
    expect(proxy.replaces.slice(before)).toEqual([id]);
    await verifyChain(pebble, m.get('ari')!.fullchain);
    await m.close();
  });

  it('follows a future window: status says ari and nothing is renewed early', async () => {
    const m = manager();
    const cert = await m.provision({ name: 'later', domains: ['later.example.test'] });
    const window = { start: new Date(Date.now() + 3 * 86_400_000), end: new Date(Date.now() + 4 * 86_400_000) };
    proxy.windows.set(expectedCertId(cert.cert), window);
    m.monitor();
    const deadline = Date.now() + 5000;
    while (m.status()[0]?.renewReason !== 'ari' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const row = m.status()[0]!;
    expect(row.renewReason).toBe('ari');
    expect(row.renewAt!.getTime()).toBeGreaterThanOrEqual(window.start.getTime());
    expect(row.renewAt!.getTime()).toBeLessThanOrEqual(window.end.getTime());
    expect(m.get('later')!.serialNumber).toBe(cert.serialNumber);
    await m.close();
  });

  it('orders again without `replaces` when the CA answers alreadyReplaced', async () => {
    const m = manager();
    const first = await m.provision({ name: 'dup', domains: ['dup.example.test'] });
    proxy.refuseNextReplaces = true;
    const before = proxy.replaces.length;
    const second = await m.rotate('dup');
    expect(second.serialNumber).not.toBe(first.serialNumber);
    expect(proxy.replaces.slice(before)).toEqual([expectedCertId(first.cert), undefined]);
    await m.close();
  });

  it('never sends `replaces` when the directory has no renewalInfo', async () => {
    proxy.advertise = false;
    try {
      const m = manager();
      await m.provision({ name: 'noari', domains: ['noari.example.test'] });
      const before = proxy.replaces.length;
      await m.rotate('noari');
      expect(proxy.replaces.slice(before)).toEqual([undefined]);
      await m.close();
    } finally {
      proxy.advertise = true;
    }
  });
});
