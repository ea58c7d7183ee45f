import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ManagedCertificate } from '../../../src/certificate.js';
import { isCertpilotError, type CertpilotError } from '../../../src/errors.js';
import { attach } from '../../../src/tls/attach.js';
import { ContextCache } from '../../../src/tls/context-cache.js';
import { tlsOptions } from '../../../src/tls/tls-options.js';
import { FakeSource } from '../../helpers/fake-source.js';
import { createCa, issueCertificate, normalizeSerial, type TestCa } from '../../helpers/selfsigned.js';
import { close, connect, echoServer, listen, probe, roundTrip, servedSerial } from './net.js';

let ca: TestCa;
let api: ManagedCertificate;
let wild: ManagedCertificate;
let rsa: ManagedCertificate;

beforeAll(async () => {
  ca = await createCa();
  [api, wild, rsa] = await Promise.all([
    issueCertificate(ca, { name: 'api', domains: ['api.test'] }),
    issueCertificate(ca, { name: 'wild', domains: ['*.wild.test'] }),
    issueCertificate(ca, { name: 'legacy', domains: ['legacy.test'], keyType: 'rsa-2048' }),
  ]);
});

/** A fresh version of a certificate: same name and domains, new key and serial. */
const renew = (c: ManagedCertificate) => issueCertificate(ca, { name: c.name, domains: c.domains, keyType: c.keyType });

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(close));
});
async function serve(server: tls.Server): Promise<number> {
  servers.push(server);
  return listen(server);
}

function thrown(fn: () => unknown): CertpilotError {
  try {
    fn();
  } catch (error) {
    if (isCertpilotError(error)) return error;
    throw error;
  }
  throw new Error('expected a certpilot error');
}

describe('attach', () => {
  it('serves the new certificate to new connections while an open one keeps working', async () => {
    const source = new FakeSource([api]);
    const server = echoServer(tlsOptions(source, new ContextCache(), 'api'));
    const port = await serve(server);
    attach(source, new ContextCache(), server, 'api');

    const before = await connect(port, { ca: ca.root }); // no servername: only attach can update this
    expect(await roundTrip(before, 'ping')).toBe('ping');
    const next = await renew(api);
    source.rotate(next);

    expect((await probe(port, { ca: ca.root })).serial).toBe(next.serialNumber);
    expect((await probe(port, { ca: ca.root, servername: 'api.test' })).serial).toBe(next.serialNumber);
    expect(await roundTrip(before, 'still here')).toBe('still here');
    expect(servedSerial(before)).toBe(api.serialNumber);
    before.destroy();
  });

  it('keeps an HTTPS keep-alive connection serving across a rotation', async () => {
    const source = new FakeSource([api]);
    const server = https.createServer(tlsOptions(source, new ContextCache()), (req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => res.end(`echo:${body}`));
    });
    const port = await serve(server);
    attach(source, new ContextCache(), server);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.root, servername: 'api.test' });
    const post = (body: string) =>
      new Promise<{ body: string; socket: tls.TLSSocket; serial: string }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, method: 'POST', agent, servername: 'api.test' }, (res) => {
          const socket = res.socket as tls.TLSSocket; // the agent takes it back once the response ends
          const serial = servedSerial(socket);
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ body: text, socket, serial }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const first = await post('one');
    const next = await renew(api);
    source.rotate(next);
    const second = await post('two');
    expect(second.body).toBe('echo:two');
    expect(second.socket).toBe(first.socket); // the same connection, still on the old certificate
    expect(second.serial).toBe(api.serialNumber);
    agent.destroy();
    expect((await probe(port, { ca: ca.root, servername: 'api.test' })).serial).toBe(next.serialNumber);
  });

  it('stops updating after detach', async () => {
    const source = new FakeSource([api]);
    const server = tls.createServer({ cert: api.fullchain, key: api.key });
    const port = await serve(server);
    const detach = attach(source, new ContextCache(), server, 'api');
    expect(source.rotatedListeners).toBe(1);
    detach();
    detach();
    expect(source.rotatedListeners).toBe(0);
    source.rotate(await renew(api));
    expect((await probe(port, { ca: ca.root })).serial).toBe(api.serialNumber);
  });

  it('updates several servers from one source', async () => {
    const source = new FakeSource([api, wild]);
    const cache = new ContextCache();
    const a = tls.createServer(tlsOptions(source, cache, 'api'));
    const b = tls.createServer(tlsOptions(source, cache, 'wild'));
    const [portA, portB] = [await serve(a), await serve(b)];
    attach(source, cache, a, 'api');
    attach(source, cache, b, 'wild');
    const [nextApi, nextWild] = [await renew(api), await renew(wild)];
    source.rotate(nextApi);
    source.rotate(nextWild);
    expect((await probe(portA, { ca: ca.root })).serial).toBe(nextApi.serialNumber);
    expect((await probe(portB, { ca: ca.root })).serial).toBe(nextWild.serialNumber);
  });

  it('works with http2.createSecureServer', async () => {
    const source = new FakeSource([api]);
    const server = http2.createSecureServer(tlsOptions(source, new ContextCache(), 'api'), (req, res) => {
      req.resume();
      req.on('end', () => res.end(`h2:${req.url}`));
    });
    const port = await serve(server);
    attach(source, new ContextCache(), server, 'api');
    const open = async () => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.root, servername: 'api.test' });
      await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
      return session;
    };
    const get = (session: http2.ClientHttp2Session, path: string) =>
      new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': path });
        let text = '';
        stream.on('data', (chunk) => (text += chunk));
        stream.on('end', () => resolve(text)).on('error', reject);
        stream.end();
      });
    const old = await open();
    expect(await get(old, '/before')).toBe('h2:/before');
    const next = await renew(api);
    source.rotate(next);
    expect(await get(old, '/after')).toBe('h2:/after'); // the open session keeps working
    const fresh = await open();
    expect(normalizeSerial((fresh.socket as tls.TLSSocket).getPeerCertificate().serialNumber)).toBe(next.serialNumber);
    expect(normalizeSerial((old.socket as tls.TLSSocket).getPeerCertificate().serialNumber)).toBe(api.serialNumber);
    old.close();
    fresh.close();
  });

  it('keeps the server settings that setSecureContext would reset', async () => {
    const source = new FakeSource([api]);
    const server = tls.createServer({ ...tlsOptions(source, new ContextCache()), minVersion: 'TLSv1.3' });
    const port = await serve(server);
    attach(source, new ContextCache(), server);
    source.rotate(await renew(api));
    await expect(probe(port, { ca: ca.root, version: 'TLSv1.2' })).rejects.toThrow();
    expect((await probe(port, { ca: ca.root, version: 'TLSv1.3' })).protocol).toBe('TLSv1.3');
  });

  it('refuses a missing name, mixed key types and bad ticket keys', async () => {
    const source = new FakeSource([api, rsa]);
    const plain = tls.createServer({ cert: api.fullchain, key: api.key });
    expect(thrown(() => attach(source, new ContextCache(), plain, 'nope')).code).toBe('NOT_FOUND');
    expect(thrown(() => attach(source, new ContextCache(), plain, 'api', { ticketKeys: Buffer.alloc(16) })).code).toBe(
      'INVALID_OPTIONS',
    );
    // A server without our SNI serves one certificate: nothing to mix.
    expect(() => attach(source, new ContextCache(), plain, 'api')()).not.toThrow();

    const sni = tls.createServer(tlsOptions(source, new ContextCache(), 'api', { allowMixedKeyTypes: true }));
    expect(thrown(() => attach(source, new ContextCache(), sni, 'api')).code).toBe('KEY_TYPE_MISMATCH');
    expect(() => attach(source, new ContextCache(), sni, 'api', { allowMixedKeyTypes: true })()).not.toThrow();
  });

  it('reports a rotation that cannot be applied and keeps serving the previous certificate', async () => {
    const source = new FakeSource([api]);
    const server = tls.createServer({ cert: api.fullchain, key: api.key });
    const port = await serve(server);
    const onError = vi.fn();
    attach(source, new ContextCache(), server, 'api', { onError });
    const next = await renew(api);
    source.rotate({ ...next, key: wild.key });
    expect(onError).toHaveBeenCalledOnce();
    expect(onError.mock.calls[0]![0].code).toBe('CERTIFICATE_CHECK_FAILED');
    expect((await probe(port, { ca: ca.root })).serial).toBe(api.serialNumber);
  });
});

// Both server kinds matter: a server built from tlsOptions was given ticketKeys (Node then remembers them),
// a plain one was not, and only attach passing the keys on every rotation keeps its tickets valid.
describe.each([
  ['TLSv1.2', 'tlsOptions'],
  ['TLSv1.3', 'tlsOptions'],
  ['TLSv1.2', 'plain cert/key'],
  ['TLSv1.3', 'plain cert/key'],
] as const)('session resumption over %s, server from %s', (version, kind) => {
  async function setup(options: Parameters<typeof attach>[4] = {}) {
    const source = new FakeSource([api, wild]);
    const server = tls.createServer(
      kind === 'tlsOptions' ? tlsOptions(source, new ContextCache(), 'api') : { cert: api.fullchain, key: api.key },
    );
    const port = await serve(server);
    const client = { ca: ca.root, version, servername: 'api.test' };
    const first = await probe(port, client); // a ticket issued before attach
    expect(first.session).toBeDefined();
    attach(source, new ContextCache(), server, 'api', options);
    const resume = (session: Buffer | undefined) => probe(port, { ...client, ...(session ? { session } : {}) });
    return { source, first, resume };
  }

  it('survives attach and a routine rotation', async () => {
    const { source, first, resume } = await setup();
    const afterAttach = await resume(first.session);
    expect(afterAttach.reused).toBe(true);
    source.rotate(await renew(api), 'renewed');
    const afterRotation = await resume(afterAttach.session ?? first.session);
    expect(afterRotation.reused).toBe(true);
    const fresh = await resume(undefined);
    expect(fresh.reused).toBe(false);
  });

  it('does not survive a revocation, of the attached name or of an SNI neighbour', async () => {
    const { source, first, resume } = await setup();
    source.rotate(await renew(api), 'revoked');
    const afterRevocation = await resume(first.session);
    expect(afterRevocation.reused).toBe(false);
    source.rotate(await renew(wild), 'revoked'); // ticket keys are server-wide
    // Only a server whose SNICallback serves "wild" cares about its revocation.
    expect((await resume(afterRevocation.session ?? first.session)).reused).toBe(kind === 'plain cert/key');
  });

  it('lets rotateTicketKeys decide', async () => {
    const rotateTicketKeys = vi.fn(() => false);
    const { source, first, resume } = await setup({ rotateTicketKeys });
    source.rotate(await renew(api), 'revoked');
    expect((await resume(first.session)).reused).toBe(true);
    expect(rotateTicketKeys).toHaveBeenCalledWith(expect.objectContaining({ name: 'api', cause: 'revoked' }));
  });
});
