import https from 'node:https';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KeyType, ManagedCertificate } from '../../../src/certificate.js';
import { isCertpilotError, type CertpilotError } from '../../../src/errors.js';
import { ContextCache } from '../../../src/tls/context-cache.js';
import { tlsOptions } from '../../../src/tls/tls-options.js';
import { FakeSource } from '../../helpers/fake-source.js';
import { createCa, issueCertificate, normalizeSerial, type TestCa } from '../../helpers/selfsigned.js';
import { close, listen, probe, type TlsVersion } from './net.js';

let ca: TestCa;
const sets = {} as Record<'ecdsa' | 'rsa', { api: ManagedCertificate; wild: ManagedCertificate; exact: ManagedCertificate }>;

async function issueSet(keyType: KeyType) {
  const [api, wild, exact] = await Promise.all([
    issueCertificate(ca, { name: 'api', domains: ['api.test'], keyType }),
    issueCertificate(ca, { name: 'wild', domains: ['wild.test', '*.wild.test'], keyType }),
    issueCertificate(ca, { name: 'exact', domains: ['x.wild.test'], keyType }),
  ]);
  return { api: api!, wild: wild!, exact: exact! };
}

beforeAll(async () => {
  ca = await createCa();
  sets.ecdsa = await issueSet('ecdsa-p256');
  sets.rsa = await issueSet('rsa-2048');
});

const servers: tls.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(close));
  vi.restoreAllMocks();
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

describe.each(['ecdsa', 'rsa'] as const)('tlsOptions with %s certificates', (algorithm) => {
  describe.each(['TLSv1.2', 'TLSv1.3'] as TlsVersion[])('over %s', (version) => {
    it('serves each servername the right certificate', async () => {
      const { api, wild, exact } = sets[algorithm];
      const source = new FakeSource([api, wild, exact]);
      const port = await serve(https.createServer(tlsOptions(source, new ContextCache(), 'api')));
      const served = async (servername?: string) => {
        const result = await probe(port, { ca: ca.root, version, ...(servername ? { servername } : {}) });
        expect(result.protocol).toBe(version);
        return result.serial;
      };
      expect(await served('api.test')).toBe(api.serialNumber);
      expect(await served('x.wild.test')).toBe(exact.serialNumber); // exact beats the wildcard
      expect(await served('y.wild.test')).toBe(wild.serialNumber);
      expect(await served('wild.test')).toBe(wild.serialNumber);
      expect(await served('Y.Wild.TEST')).toBe(wild.serialNumber);
      expect(await served('a.b.wild.test')).toBe(api.serialNumber); // two labels deep: default
      expect(await served('unknown.test')).toBe(api.serialNumber);
      expect(await served()).toBe(api.serialNumber);
    });
  });
});

describe('tlsOptions', () => {
  it('serves a real HTTPS request by SNI', async () => {
    const { api, wild } = sets.ecdsa;
    const source = new FakeSource([api, wild]);
    const port = await serve(https.createServer(tlsOptions(source, new ContextCache()), (_req, res) => res.end('ok')));
    const { body, serial } = await new Promise<{ body: string; serial: string }>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, servername: 'www.wild.test', ca: ca.root, agent: false,
          checkServerIdentity: (host, cert) => tls.checkServerIdentity('www.wild.test', cert) }, (res) => {
          const serial = normalizeSerial((res.socket as tls.TLSSocket).getPeerCertificate().serialNumber);
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ body, serial }));
        })
        .on('error', reject);
    });
    expect(body).toBe('ok');
    expect(serial).toBe(wild.serialNumber);
  });

  it('ignores a trailing dot in the servername', () => {
    const { api, wild } = sets.ecdsa;
    const cache = new ContextCache();
    const { SNICallback } = tlsOptions(new FakeSource([api, wild]), cache, 'api');
    const selected = vi.fn();
    SNICallback('y.wild.test.', selected);
    expect(selected).toHaveBeenCalledWith(null, cache.get(wild));
  });

  it('uses the first certificate as default when no name is given', () => {
    const { api, wild } = sets.ecdsa;
    const options = tlsOptions(new FakeSource([wild, api]), new ContextCache());
    expect(options.cert).toBe(wild.fullchain);
    expect(options.key).toBe(wild.key);
    expect(options.ticketKeys).toHaveLength(48);
  });

  it('follows rotations of SNI certificates and creates no context per handshake', async () => {
    const { api, wild } = sets.ecdsa;
    const source = new FakeSource([api, wild]);
    const port = await serve(tls.createServer(tlsOptions(source, new ContextCache(), 'api')));
    expect((await probe(port, { ca: ca.root, servername: 'y.wild.test' })).serial).toBe(wild.serialNumber);

    const create = vi.spyOn(tls, 'createSecureContext');
    // Clients build contexts too (with `ca`); only contexts holding a key are the server's.
    const serverContexts = () => create.mock.calls.filter(([options]) => options?.key !== undefined).length;
    for (let i = 0; i < 5; i++) await probe(port, { ca: ca.root, servername: `h${i}.wild.test` });
    await probe(port, { ca: ca.root, servername: 'api.test' });
    expect(serverContexts()).toBe(0);

    const next = await issueCertificate(ca, { name: 'wild', domains: ['wild.test', '*.wild.test'] });
    source.rotate(next);
    expect((await probe(port, { ca: ca.root, servername: 'y.wild.test' })).serial).toBe(next.serialNumber);
    expect(serverContexts()).toBe(1); // once for the new version, then cached
    await probe(port, { ca: ca.root, servername: 'z.wild.test' });
    expect(serverContexts()).toBe(1);
  });

  it('serves a certificate added later, and limits SNI to `names` when given', async () => {
    const { api, wild, exact } = sets.ecdsa;
    const source = new FakeSource([api]);
    const all = await serve(tls.createServer(tlsOptions(source, new ContextCache(), 'api')));
    const limited = await serve(tls.createServer(tlsOptions(source, new ContextCache(), 'api', { names: ['exact'] })));
    source.rotate(wild);
    source.rotate(exact);
    expect((await probe(all, { ca: ca.root, servername: 'y.wild.test' })).serial).toBe(wild.serialNumber);
    expect((await probe(limited, { ca: ca.root, servername: 'y.wild.test' })).serial).toBe(api.serialNumber);
    expect((await probe(limited, { ca: ca.root, servername: 'x.wild.test' })).serial).toBe(exact.serialNumber);
  });

  it('refuses ECDSA and RSA certificates on one server', () => {
    const source = new FakeSource([sets.ecdsa.api, sets.rsa.wild]);
    const error = thrown(() => tlsOptions(source, new ContextCache(), 'api'));
    expect(error.code).toBe('KEY_TYPE_MISMATCH');
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain('"api" is ecdsa-p256 but "wild" is rsa-2048');
    expect(() => tlsOptions(source, new ContextCache(), 'api', { allowMixedKeyTypes: true })).not.toThrow();
    expect(() => tlsOptions(source, new ContextCache(), 'api', { names: [] })).not.toThrow();
  });

  it('serves ECDSA P-256 next to P-384 (same key algorithm)', async () => {
    const p384 = await issueCertificate(ca, { name: 'big', domains: ['big.test'], keyType: 'ecdsa-p384' });
    const port = await serve(tls.createServer(tlsOptions(new FakeSource([sets.ecdsa.api, p384]), new ContextCache(), 'api')));
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      expect((await probe(port, { ca: ca.root, version, servername: 'big.test' })).serial).toBe(p384.serialNumber);
    }
  });

  it('reports a rotation that brings in another key algorithm', () => {
    const { api, wild } = sets.ecdsa;
    const source = new FakeSource([api, wild]);
    const onError = vi.fn();
    tlsOptions(source, new ContextCache(), 'api', { onError });
    source.rotate(sets.rsa.wild);
    expect(onError).toHaveBeenCalledOnce();
    expect(onError.mock.calls[0]![0].code).toBe('KEY_TYPE_MISMATCH');
  });

  it('throws NOT_FOUND for a missing default', () => {
    expect(thrown(() => tlsOptions(new FakeSource([sets.ecdsa.api]), new ContextCache(), 'nope')).message).toContain('"nope"');
    expect(thrown(() => tlsOptions(new FakeSource(), new ContextCache())).code).toBe('NOT_FOUND');
  });
});
