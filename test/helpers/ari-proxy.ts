/**
 * An HTTPS proxy in front of Pebble 2.4 (which has no ARI) that adds
 * `renewalInfo` to the directory, answers renewalInfo GETs from a table the
 * test controls, records the `replaces` field of every newOrder, and can
 * refuse one with `alreadyReplaced`. Everything else goes to Pebble with the
 * proxy's Host header, so Pebble's URLs point back through the proxy.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createTestCa } from './ca.js';
import type { Pebble } from './pebble.js';

/** A running proxy. */
export interface AriProxy {
  directoryUrl: string;
  /** PEM of the CA that signs the proxy's HTTPS certificate. */
  caPem: string;
  /** CertID → window; `null` answers 404. */
  windows: Map<string, { start: Date; end: Date } | null>;
  /** CertIDs the client asked renewalInfo for, in order. */
  asked: string[];
  /** `replaces` of every newOrder (undefined when absent), in order. */
  replaces: Array<string | undefined>;
  /** Advertise renewalInfo in the directory. @default true */
  advertise: boolean;
  /** Refuse the next newOrder that carries `replaces` with `alreadyReplaced`. */
  refuseNextReplaces: boolean;
  /** Retry-After header of renewalInfo answers (seconds). */
  retryAfter: string;
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port. */
export async function startAriProxy(pebble: Pebble): Promise<AriProxy> {
  const ca = await createTestCa();
  const upstream = new URL(pebble.directoryUrl);
  let self = '';
  const proxy: AriProxy = {
    directoryUrl: '',
    caPem: ca.caPem,
    windows: new Map(),
    asked: [],
    replaces: [],
    advertise: true,
    refuseNextReplaces: false,
    retryAfter: '60',
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const server = https.createServer({ cert: ca.serverCertPem, key: ca.serverKeyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      if (path.startsWith('/renewal-info/')) {
        const id = path.slice('/renewal-info/'.length);
        proxy.asked.push(id);
        const window = proxy.windows.get(id);
        if (!window) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'content-type': 'application/json', 'retry-after': proxy.retryAfter });
        res.end(JSON.stringify({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } }));
        return;
      }
      if (req.method === 'POST' && path === '/order-plz') {
        const jws = JSON.parse(body.toString()) as { payload: string };
        const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as { replaces?: string };
        proxy.replaces.push(payload.replaces);
        if (payload.replaces && proxy.refuseNextReplaces) {
          proxy.refuseNextReplaces = false;
          res.writeHead(409, { 'content-type': 'application/problem+json' });
          res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:alreadyReplaced', detail: 'the certificate was already replaced', status: 409 }));
          return;
        }
      }
      const forward = https.request(
        { host: upstream.hostname, port: upstream.port, path, method: req.method, headers: { ...req.headers, host: new URL(self).host }, ca: pebble.caPem },
        (up) => {
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('end', () => {
            let out = Buffer.concat(parts);
            if (path === '/dir' && proxy.advertise) {
              const dir = JSON.parse(out.toString()) as Record<string, unknown>;
              dir.renewalInfo = `${self}/renewal-info`;
              out = Buffer.from(JSON.stringify(dir));
            }
            const headers = { ...up.headers };
            delete headers['content-length'];
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(out);
          });
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `https://localhost:${(server.address() as AddressInfo).port}`;
  proxy.directoryUrl = `${self}/dir`;
  return proxy;
}
