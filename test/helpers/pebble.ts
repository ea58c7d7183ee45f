import https from 'node:https';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestCa } from './ca.js';
import { startChalltestsrv, type Challtestsrv } from './challtestsrv.js';
import { freePort } from './ports.js';
import { requireBinary, startService } from './process.js';

/** Options of {@link startPebble}. */
export interface PebbleOptions {
  /** `host:port` of a DNS server Pebble validates against (e.g. BIND); when absent a challtestsrv is started. */
  dnsServer?: string;
  /** `PEBBLE_WFE_NONCEREJECT`: percent of good nonces rejected with `badNonce`. @default 0 */
  nonceRejectPercent?: number;
  /** `PEBBLE_AUTHZREUSE`: percent of authorizations reused across orders. @default 0 */
  authzReusePercent?: number;
  /** Require external account binding on newAccount. @default false */
  externalAccountBindingRequired?: boolean;
  /** EAB keys: kid → HMAC key (base64url, no padding). */
  externalAccountMACKeys?: Record<string, string>;
  /** Lifetime of issued certificates in seconds (0 = Pebble's default of 5 years). */
  certificateValidityPeriod?: number;
  /** Extra environment, e.g. `PEBBLE_CHAIN_LENGTH`, `PEBBLE_VA_ALWAYS_VALID`. */
  env?: Record<string, string>;
  /** Pass `-strict`. @default false */
  strict?: boolean;
}

/** A running Pebble ACME server (and the challtestsrv it validates against, if it started one). */
export interface Pebble {
  /** `https://127.0.0.1:PORT/dir` */
  directoryUrl: string;
  /** `https://127.0.0.1:PORT` of the management API. */
  managementUrl: string;
  /** PEM of the test CA that signs Pebble's HTTPS certificate: pass it as `caCertificates`. */
  caPem: string;
  /** Path of {@link Pebble.caPem} on disk (for lego's `LEGO_CA_CERTIFICATES`, certbot's `REQUESTS_CA_BUNDLE`). */
  caPath: string;
  /** The challtestsrv started for this Pebble; absent when `dnsServer` was given. */
  challtestsrv?: Challtestsrv;
  /** `127.0.0.1:PORT` of the DNS server Pebble validates against (for `propagation.nameservers`). */
  dnsServer: string;
  /** PEM of Pebble's current root (GET /roots/0); it changes on every start. */
  rootPem(): Promise<string>;
  /** PEM of Pebble's current intermediate (GET /intermediates/0). */
  intermediatePem(): Promise<string>;
  /** Status of a certificate at the CA; `serialHex` may have colons, upper case or leading zeros. Rejects on 404. */
  certStatus(serialHex: string): Promise<{ Status: string; Reason?: number }>;
  /** Orders Pebble created since start (one per successful newOrder; counts "Added order" log lines). */
  orderCount(): number;
  /** newOrder requests received, including rejected ones (e.g. `badNonce`); counts "POST /order-plz" log lines. */
  newOrderRequests(): number;
  /** Serials (lower-case hex, no leading zeros) of certificates issued since start, in order. */
  issuedSerials(): string[];
  /** Pebble's recent log output. */
  output(): string;
  /** Calls `listener` with every complete log line from now on (e.g. to count requests); returns an unsubscribe function. */
  onLog(listener: (line: string) => void): () => void;
  /** Stops Pebble (and its challtestsrv) and removes its temp files. */
  stop(): Promise<void>;
}

/** GETs `url` over HTTPS trusting only `ca`; resolves to status and body. */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/**
 * Starts `/usr/bin/pebble` on free loopback ports with a fresh test CA for its HTTPS, and a
 * pebble-challtestsrv unless `options.dnsServer` is given. Resolves once the directory answers.
 * Register `stop` with `afterAll`. Every start is a new CA that knows no accounts.
 */
export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  requireBinary('/usr/bin/pebble', 'pebble');
  const ca = await createTestCa();
  const challtestsrv = options.dnsServer ? undefined : await startChalltestsrv();
  const dnsServer = options.dnsServer ?? challtestsrv!.dnsServer;
  const [port, managementPort, httpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const configPath = path.join(ca.dir, 'pebble-config.json');
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: ca.serverCertPath,
      privateKey: ca.serverKeyPath,
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: options.externalAccountBindingRequired ?? false,
      ...(options.externalAccountMACKeys ? { externalAccountMACKeys: options.externalAccountMACKeys } : {}),
      ...(options.certificateValidityPeriod !== undefined ? { certificateValidityPeriod: options.certificateValidityPeriod } : {}),
    },
  };
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const args = ['-config', configPath, '-dnsserver', dnsServer, ...(options.strict ? ['-strict'] : [])];
  const service = startService('/usr/bin/pebble', args, {
    PEBBLE_VA_NOSLEEP: '1',
    PEBBLE_WFE_NONCEREJECT: String(options.nonceRejectPercent ?? 0),
    PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
    ...options.env,
  });

  // Count from the stream, not from output(), which only keeps the tail of the log.
  let orders = 0;
  let requests = 0;
  const serials: string[] = [];
  const logListeners = new Set<(line: string) => void>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (/ Added order "[^"]+" to the db/.test(line)) orders++;
      else if (/ POST \/order-plz /.test(line)) requests++;
      const issued = / Issued certificate serial ([0-9a-f]+) /.exec(line);
      if (issued) serials.push(issued[1]!.replace(/^0+(?=.)/, ''));
      for (const listener of logListeners) listener(line);
    }
  };
  service.process.stdout?.on('data', onData);
  service.process.stderr?.on('data', onData);

  const stop = async () => {
    await service.stop();
    await challtestsrv?.stop();
    await rm(ca.dir, { recursive: true, force: true });
  };
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (service.process.exitCode !== null) throw new Error(`pebble exited with code ${service.process.exitCode}`);
      const res = await httpsGet(directoryUrl, ca.caPem).catch(() => undefined);
      if (res?.status === 200 && res.body.includes('newOrder')) break;
      if (Date.now() > deadline) throw new Error(`pebble's directory ${directoryUrl} did not answer within 15 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    const log = service.output();
    await stop();
    throw new Error(`${(error as Error).message}\n${log}`);
  }

  const management = async (p: string): Promise<string> => {
    const res = await httpsGet(managementUrl + p, ca.caPem);
    if (res.status !== 200) throw new Error(`pebble management GET ${p} answered ${res.status}`);
    return res.body;
  };
  return {
    directoryUrl,
    managementUrl,
    caPem: ca.caPem,
    caPath: ca.caCertPath,
    ...(challtestsrv ? { challtestsrv } : {}),
    dnsServer,
    rootPem: () => management('/roots/0'),
    intermediatePem: () => management('/intermediates/0'),
    certStatus: async (serialHex) => {
      const hex = serialHex.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
      return JSON.parse(await management(`/cert-status-by-serial/${hex}`)) as { Status: string; Reason?: number };
    },
    orderCount: () => orders,
    newOrderRequests: () => requests,
    issuedSerials: () => [...serials],
    output: service.output,
    onLog: (listener) => {
      logListeners.add(listener);
      return () => { logListeners.delete(listener); };
    },
    stop,
  };
}
