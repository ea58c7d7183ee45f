import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ManagedCertificate } from '../../../src/certificate.js';
import { isCertpilotError, type CertpilotError } from '../../../src/errors.js';
import type { CertificateServedEvent } from '../../../src/events.js';
import { attach } from '../../../src/tls/attach.js';
import { ContextCache } from '../../../src/tls/context-cache.js';
import { tlsOptions } from '../../../src/tls/tls-options.js';
import { loopbackAddress, servedSerial, ServedVerifier, verifyServed, verifyServername } from '../../../src/tls/verify.js';
import { FakeSource } from '../../helpers/fake-source.js';
import { createCa, issueCertificate, type TestCa } from '../../helpers/selfsigned.js';
import { close, echoServer, listen } from './net.js';

let ca: TestCa;
let api: ManagedCertificate;
let wild: ManagedCertificate;

beforeAll(async () => {
  ca = await createCa();
  [api, wild] = await Promise.all([
    issueCertificate(ca, { name: 'api', domains: ['api.test', '*.api.test'] }),
    issueCertificate(ca, { name: 'wild', domains: ['*.wild.test'] }),
  ]);
});

const renew = (c: ManagedCertificate) => issueCertificate(ca, { name: c.name, domains: c.domains, keyType: c.keyType });

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(close));
});
async function serve<T extends net.Server>(server: T): Promise<T> {
  servers.push(server);
  await listen(server);
  return server;
}

async function until<T>(read: () => T | undefined, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('verifyServername', () => {
  it('prefers an exact domain and turns a wildcard into a label under it', () => {
    expect(verifyServername(api)).toBe('api.test');
    expect(verifyServername(wild)).toBe('certpilot-verify.wild.test');
  });

  it('only picks a name the SNI table routes to this certificate', () => {
    const claimsApi = { ...wild, name: 'other', domains: ['api.test'] };
    // 'other' is listed first, so it owns api.test: the wildcard label is what reaches 'api'.
    expect(verifyServername(api, [claimsApi, api])).toBe('certpilot-verify.api.test');
    expect(verifyServername({ name: 'x', domains: ['api.test'] }, [claimsApi])).toBeUndefined();
  });
});

describe('loopbackAddress', () => {
  const fake = (address: ReturnType<net.Server['address']>, listening = true) => ({ listening, address: () => address }) as unknown as net.Server;
  it('reaches wildcard binds through loopback and labels IPv6 with brackets', () => {
    expect(loopbackAddress(fake({ address: '0.0.0.0', port: 8443, family: 'IPv4' }))).toEqual({ host: '127.0.0.1', port: 8443, label: '127.0.0.1:8443' });
    expect(loopbackAddress(fake({ address: '::', port: 8443, family: 'IPv6' }))).toEqual({ host: '::1', port: 8443, label: '[::1]:8443' });
    expect(loopbackAddress(fake('/run/app.sock'))).toEqual({ path: '/run/app.sock', label: '/run/app.sock' });
    expect(loopbackAddress(fake(null, false))).toBeUndefined();
  });
});

describe('verifyServed', () => {
  it('reports ok when the server presents the certificate, by name and by default', async () => {
    const source = new FakeSource([api]);
    const server = await serve(echoServer(tlsOptions(source, new ContextCache(), 'api')));
    const { port } = server.address() as net.AddressInfo;
    expect(await verifyServed(server, api, { checkDefault: true })).toEqual({
      name: 'api', serialNumber: api.serialNumber, ok: true, address: `127.0.0.1:${port}`, servedSerialNumber: api.serialNumber,
    });
  });

  it('reports the serial actually served on a mismatch, and which handshake saw it', async () => {
    const source = new FakeSource([api]);
    const server = await serve(echoServer(tlsOptions(source, new ContextCache(), 'api')));
    const next = await renew(api);
    // By name the SNI table would still serve the old one too: both disagree with `next`.
    const check = await verifyServed(server, next);
    expect(check).toMatchObject({ ok: false, serialNumber: next.serialNumber, servedSerialNumber: api.serialNumber, servername: 'api.test' });
    // Only the default context changed behind the table's back: caught only when the default is checked.
    (server as tls.Server).setSecureContext({ cert: next.fullchain, key: next.key });
    source.rotate(next);
    (server as tls.Server).setSecureContext({ cert: api.fullchain, key: api.key });
    expect((await verifyServed(server, next))?.ok).toBe(true);
    expect(await verifyServed(server, next, { checkDefault: true })).toMatchObject({ ok: false, servedSerialNumber: api.serialNumber, servername: '' });
  });

  it('is undefined for a server that is not listening, and ok=false with a failure when no handshake completes', async () => {
    expect(await verifyServed(echoServer(tlsOptions(new FakeSource([api]), new ContextCache())), api)).toBeUndefined();
    const notTls = await serve(net.createServer((socket) => socket.destroy()));
    const check = await verifyServed(notTls, api);
    expect(check).toMatchObject({ ok: false, serialNumber: api.serialNumber });
    expect(check?.servedSerialNumber).toBeUndefined();
    expect(check?.failure).toBeInstanceOf(Error);
    const silent = await serve(net.createServer(() => undefined));
    await expect(servedSerial(silent, { timeoutMs: 200 })).rejects.toThrow('no TLS handshake within 200 ms');
  });

  it('checks https and http2 servers (an h2-only server too: the probe offers no ALPN)', async () => {
    const source = new FakeSource([api]);
    const options = tlsOptions(source, new ContextCache(), 'api');
    const web = await serve(https.createServer(options, (_req, res) => res.end('ok')));
    const h2 = await serve(http2.createSecureServer(options));
    for (const server of [web, h2]) expect((await verifyServed(server, api, { checkDefault: true }))?.ok).toBe(true);
  });

  it('checks a server listening on a UNIX socket', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-verify-'));
    try {
      const server = echoServer(tlsOptions(new FakeSource([api]), new ContextCache()));
      const socketPath = path.join(dir, 'tls.sock');
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      const check = await verifyServed(server, api, { checkDefault: true });
      await new Promise((resolve) => server.close(resolve));
      expect(check).toMatchObject({ ok: true, address: socketPath });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ServedVerifier', () => {
  it('coalesces a burst into few checks, reports the certificate that stays, never a superseded mismatch', async () => {
    const source = new FakeSource([api]);
    const server = await serve(echoServer(tlsOptions(source, new ContextCache(), 'api')));
    const results: CertificateServedEvent[] = [];
    const errors: Error[] = [];
    const verifier = new ServedVerifier({ source, onResult: (e) => results.push(e), onError: (e) => errors.push(e) });
    const versions = await Promise.all(Array.from({ length: 5 }, () => renew(api)));
    for (const version of versions) {
      source.rotate(version);
      (server as tls.Server).setSecureContext({ cert: version.fullchain, key: version.key });
      verifier.schedule(server, 'api', { checkDefault: true });
      await sleep(1);
    }
    const last = versions.at(-1)!;
    await until(() => results.find((e) => e.serialNumber === last.serialNumber), 'the check of the last version');
    expect(results.length).toBeLessThan(versions.length);
    expect(results.every((e) => e.ok)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('confirms a mismatch before reporting it, as a CERTIFICATE_CHECK_FAILED error with the details', async () => {
    const source = new FakeSource([api]);
    const server = await serve(echoServer({ cert: api.fullchain, key: api.key }));
    const next = await renew(api);
    source.rotate(next); // the server is never told
    const results: CertificateServedEvent[] = [];
    const errors: CertpilotError[] = [];
    const started = Date.now();
    new ServedVerifier({ source, onResult: (e) => results.push(e), onError: (e) => errors.push(e as CertpilotError) }).schedule(server, 'api');
    await until(() => errors[0], 'the error');
    expect(Date.now() - started).toBeGreaterThanOrEqual(450); // two confirmations, 100 + 400 ms apart
    expect(results).toEqual([expect.objectContaining({ ok: false, servedSerialNumber: api.serialNumber, serialNumber: next.serialNumber })]);
    expect(isCertpilotError(errors[0]) && errors[0].code).toBe('CERTIFICATE_CHECK_FAILED');
    expect(errors[0]!.details).toMatchObject({ name: 'api', serialNumber: next.serialNumber, servedSerialNumber: api.serialNumber });
    expect(errors[0]!.message).not.toContain('PRIVATE KEY');
  });
});

describe('attach verification', () => {
  it('checks the attached name and names served through the SNI table; verify:false checks nothing', async () => {
    const source = new FakeSource([api, wild]);
    const cache = new ContextCache();
    const checked = await serve(echoServer(tlsOptions(source, cache, 'api')));
    const unchecked = await serve(echoServer(tlsOptions(source, cache, 'api')));
    const events: CertificateServedEvent[] = [];
    const errors: Error[] = [];
    attach(source, cache, checked, 'api', { onVerified: (e) => events.push(e), onError: (e) => errors.push(e) });
    attach(source, cache, unchecked, 'api', { verify: false, onVerified: (e) => events.push(e) });

    const api2 = await renew(api);
    source.rotate(api2);
    await until(() => events.find((e) => e.name === 'api'), 'the api check');
    const wild2 = await renew(wild);
    source.rotate(wild2);
    await until(() => events.find((e) => e.name === 'wild'), 'the wildcard check');
    await sleep(100);

    const { port } = checked.address() as net.AddressInfo;
    expect(events).toEqual([
      { name: 'api', serialNumber: api2.serialNumber, ok: true, address: `127.0.0.1:${port}`, servedSerialNumber: api2.serialNumber },
      { name: 'wild', serialNumber: wild2.serialNumber, ok: true, address: `127.0.0.1:${port}`, servedSerialNumber: wild2.serialNumber },
    ]);
    expect(errors).toEqual([]);
  });
});
