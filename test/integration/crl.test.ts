/**
 * Revocation found through a CRL, end to end: LocalIssuer leaves name a CRL
 * served over HTTP on 127.0.0.1; a certificate revoked behind the manager's
 * back (straight at the CA) is replaced by the control loop on its own, once
 * the cached CRL has expired, with cause `revoked`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateManager } from '../../src/manager.js';
import { LocalIssuer } from '../../src/local/issuer.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { CertificateRotatedEvent, ErrorEvent } from '../../src/events.js';

const store = new MemoryStore();
let issuer: LocalIssuer;
let server: http.Server;
/** Times (Date.now()) of every CRL request. */
const hits: number[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url !== '/local.crl') return void res.writeHead(404).end();
    hits.push(Date.now());
    issuer.crl(store).then(
      (crl) => res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(crl.der),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // A CRL valid for 30 s: the checker still keeps it a minute (its floor against hammering a CA).
  issuer = new LocalIssuer({ crlUrl: `http://127.0.0.1:${port}/local.crl`, crlLifetimeMs: 30_000 });
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('CRL revocation under monitor()', () => {
  it('replaces a certificate revoked behind its back, with cause revoked', async () => {
    const manager = new CertificateManager({ store, issuer, checkIntervalMs: 500, revocationCheckIntervalMs: 1000 });
    const errors: ErrorEvent[] = [];
    manager.on('error', (e) => errors.push(e));
    const first = await manager.provision({ name: 'crl', domains: ['crl.example.test'] });
    const before = hits.length;
    manager.monitor();
    // The first pass checks the certificate (not listed) and caches the CRL.
    while (hits.length === before) await sleep(50);
    const firstFetch = hits.at(-1)!;
    await sleep(2500); // two more due checks, answered from the cache
    expect(hits.length).toBe(before + 1);
    expect(manager.get('crl')!.serialNumber).toBe(first.serialNumber);

    const replaced = new Promise<CertificateRotatedEvent>((resolve) => manager.on('certificate:rotated', (e) => resolve(e)));
    await issuer.revoke(first, 'keyCompromise', { store, signal: new AbortController().signal, progress: () => undefined });
    const event = await replaced;
    expect(event.cause).toBe('revoked');
    expect(event.previous?.serialNumber).toBe(first.serialNumber);
    expect(event.current.serialNumber).not.toBe(first.serialNumber);
    expect(manager.get('crl')!.serialNumber).toBe(event.current.serialNumber);
    // Found with the first download after the cached CRL expired (a minute after the first), not before.
    expect(hits.length).toBe(before + 2);
    expect(hits.at(-1)! - firstFetch).toBeGreaterThanOrEqual(60_000);
    expect(Date.now() - firstFetch).toBeLessThan(60_000 + 5000);
    expect(errors).toEqual([]);
    const crl = await issuer.crl(store);
    expect(crl.revoked.map((r) => r.serialNumber)).toEqual([first.serialNumber]);
    // The replacement is checked as well, and stays.
    await sleep(1500);
    expect(manager.get('crl')!.serialNumber).toBe(event.current.serialNumber);
    expect(manager.status()[0]).toMatchObject({ attempts: 0 });
    await manager.close();
  }, 120_000);

  it('reports an unreachable CRL through the error event, never as a renewal failure', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const s = new MemoryStore();
    const dead = new LocalIssuer({ name: 'dead crl CA', crlUrl: `http://127.0.0.1:${closed}/gone.crl` });
    const manager = new CertificateManager({ store: s, issuer: dead, checkIntervalMs: 200 });
    const errors: ErrorEvent[] = [];
    const failed: unknown[] = [];
    manager.on('error', (e) => errors.push(e));
    manager.on('certificate:failed', (e) => failed.push(e));
    const cert = await manager.provision({ name: 'dead', domains: ['dead.example.test'] });
    manager.monitor();
    while (errors.length === 0) await sleep(50);
    await sleep(1000);
    expect(errors).toHaveLength(1); // retried after an hour, not on every pass
    expect(errors[0]).toMatchObject({ name: 'dead', context: 'revocation check of "dead"', error: { code: 'CERTIFICATE_CHECK_FAILED' } });
    expect(errors[0]!.error.message).toContain('ECONNREFUSED');
    expect(failed).toEqual([]);
    expect(manager.status()[0]).toMatchObject({ attempts: 0 });
    expect(manager.get('dead')!.serialNumber).toBe(cert.serialNumber);
    await manager.close();
  });

  it('downloads nothing with checkRevocation: false', async () => {
    const manager = new CertificateManager({ store, issuer, checkIntervalMs: 200, checkRevocation: false });
    await manager.provision({ name: 'off', domains: ['off.example.test'] });
    const before = hits.length;
    manager.monitor();
    await sleep(1000);
    expect(hits.length).toBe(before);
    await manager.close();
  });
});
