/**
 * LocalIssuer under a real CertificateManager and a real HTTPS server: the
 * control loop renews short-lived leaves by itself, the server switches to
 * them without a restart, and a client that trusts only the local root
 * connects (one with the default roots does not). No network beyond loopback.
 */
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CertificateRotatedEvent } from '../../src/events.js';
import { LocalIssuer } from '../../src/local/issuer.js';
import { CertificateManager } from '../../src/manager.js';
import { MemoryStore } from '../../src/storage/memory.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Answer { body: string; serialNumber: string }

/** One GET over a new connection, returning the body and the serial of the certificate the server presented. */
function get(port: number, servername: string, tls: Pick<https.RequestOptions, 'ca' | 'crl'>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port, servername, headers: { host: servername }, agent: false, ...tls }, (response) => {
      const serialNumber = (response.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ body, serialNumber }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('LocalIssuer with a CertificateManager', () => {
  it('renews a few-seconds certificate under monitor() and serves it to a client that trusts only the local root', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ name: 'certpilot test CA', leafLifetimeMs: 4000, intermediateLifetimeMs: 3_600_000 });
    const manager = new CertificateManager({ store, issuer });
    cleanups.push(() => store.close(), () => manager.close());
    const rotations: CertificateRotatedEvent[] = [];
    manager.on('certificate:rotated', (event) => rotations.push(event));

    const first = await manager.provision({ name: 'web', domains: ['app.local.test', '*.app.local.test'] });
    expect(first.issuer).toContain('certpilot test CA Intermediate');
    const server = https.createServer(manager.tlsOptions('web'), (_req, res) => res.end('hello'));
    cleanups.push(async () => { server.closeAllConnections(); server.close(); await once(server, 'close'); });
    cleanups.push(manager.attach(server, 'web'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const ca = await issuer.rootCertificate(store);

    expect(await get(port, 'app.local.test', { ca })).toEqual({ body: 'hello', serialNumber: first.serialNumber });
    // A client with Node's default roots has never heard of this CA.
    await expect(get(port, 'app.local.test', {})).rejects.toThrow(/self[- ]signed|unable to get local issuer|unable to verify/i);

    const renewed = new Promise<CertificateRotatedEvent>((resolve) => {
      manager.on('certificate:rotated', (event) => { if (event.cause === 'renewed') resolve(event); });
    });
    manager.monitor();
    const event = await within(renewed, 15_000, "a 'renewed' rotation");
    expect(event.previous?.serialNumber).toBe(first.serialNumber);
    expect(event.current.serialNumber).not.toBe(first.serialNumber);
    expect(event.current.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());

    // The running server presents a renewed certificate (wildcard name, root-only trust), with no restart.
    const answer = await get(port, 'api.app.local.test', { ca });
    expect(answer.body).toBe('hello');
    expect(answer.serialNumber).not.toBe(first.serialNumber);
    expect(rotations.map((r) => r.current.serialNumber)).toContain(answer.serialNumber);
  });

  it('revokes through the manager: the replacement is served, and a client checking the CRLs refuses the old certificate', async () => {
    const store = new MemoryStore();
    const issuer = new LocalIssuer({ crlUrl: 'http://127.0.0.1:9/local.crl' });
    const manager = new CertificateManager({ store, issuer });
    cleanups.push(() => store.close(), () => manager.close());
    const old = await manager.provision({ name: 'db', domains: ['db.local.test'] });
    const replacement = await manager.revoke('db', { reason: 'keyCompromise' });
    expect(replacement.serialNumber).not.toBe(old.serialNumber);
    const crl = await issuer.crl(store);
    expect(crl.revoked).toEqual([expect.objectContaining({ serialNumber: old.serialNumber, reason: 'keyCompromise' })]);

    const server = https.createServer(manager.tlsOptions('db'), (_req, res) => res.end('ok'));
    cleanups.push(async () => { server.closeAllConnections(); server.close(); await once(server, 'close'); });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const ca = await issuer.rootCertificate(store);
    const crlCheck = { ca, crl: [crl.pem, crl.rootPem] };
    expect((await get(port, 'db.local.test', crlCheck)).serialNumber).toBe(replacement.serialNumber);

    // A server still presenting the revoked certificate is refused by a client that checks the CRLs.
    const stale = https.createServer({ cert: old.fullchain, key: old.key }, (_req, res) => res.end('stale'));
    cleanups.push(async () => { stale.closeAllConnections(); stale.close(); await once(stale, 'close'); });
    stale.listen(0, '127.0.0.1');
    await once(stale, 'listening');
    const stalePort = (stale.address() as AddressInfo).port;
    expect((await get(stalePort, 'db.local.test', { ca })).body).toBe('stale');
    await expect(get(stalePort, 'db.local.test', crlCheck)).rejects.toThrow(/revoked/i);
  });
});
