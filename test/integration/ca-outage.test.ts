/**
 * A CA outage in real time against a real Pebble: short-lived certificates
 * under monitor() while a TCP proxy in front of Pebble's ACME port refuses
 * every connection. The active certificate stays in the manager and on the
 * wire, every failure is reported with its attempt and next attempt on the
 * backoff ladder, and once the CA is reachable again the certificate is
 * renewed at the next attempt — within one backoff step.
 *
 * A proxy rather than pebble.stop(): a restarted Pebble is a new CA on a new
 * port that knows no accounts, which is another test. Refusing connections
 * (RST) also makes failures immediate, as a CA that is down usually is.
 */
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateManager } from '../../src/manager.js';
import { MemoryStore } from '../../src/storage/memory.js';
import type { CertificateFailedEvent, CertificateRotatedEvent, ErrorEvent } from '../../src/events.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { pebbleIssuer } from '../helpers/manager.js';

/** A TCP proxy to `port` on 127.0.0.1 that can be switched to reset every connection, open ones included. */
interface SwitchableProxy {
  port: number;
  /** Connections reset while closed. */
  refused: number;
  setOpen(open: boolean): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number): Promise<SwitchableProxy> {
  let open = true;
  const live = new Set<net.Socket>();
  const proxy: SwitchableProxy = {
    port: 0,
    refused: 0,
    setOpen(value) {
      open = value;
      // Keep-alive sockets from before the outage must fail too, or the client would not notice it.
      if (!value) for (const socket of live) socket.resetAndDestroy();
    },
    close: () => new Promise((resolve) => {
      for (const socket of live) socket.destroy();
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((client) => {
    if (!open) {
      proxy.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    live.add(client);
    live.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}

/** Serial (lower-case hex, no leading zeros) of the certificate a TLS server presents for `servername`. */
function servedSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

const LADDER = [1000, 2000, 4000];
let pebble: Pebble;
let proxy: SwitchableProxy;

beforeAll(async () => {
  pebble = await startPebble({ certificateValidityPeriod: 30 });
  proxy = await startProxy(Number(new URL(pebble.directoryUrl).port));
});
afterAll(async () => {
  await proxy?.close();
  await pebble?.stop();
});

describe('CA outage', () => {
  it('keeps serving the active certificate, reports failures on the ladder, renews within one step once the CA is back', async () => {
    const manager = new CertificateManager({
      store: new MemoryStore(),
      issuer: pebbleIssuer(pebble, { directoryUrl: `https://127.0.0.1:${proxy.port}/dir` }),
      checkIntervalMs: 250,
      retryBackoffMs: LADDER,
    });
    const failures: Array<CertificateFailedEvent & { at: number }> = [];
    const errors: ErrorEvent[] = [];
    manager.on('certificate:failed', (e) => failures.push({ ...e, at: Date.now() }));
    manager.on('error', (e) => errors.push(e));
    const domain = 'outage.example.test';
    const first = await manager.provision({ name: 'outage', domains: [domain] });
    const server = https.createServer(manager.tlsOptions('outage'), (_req, res) => res.end('ok'));
    const detach = manager.attach(server, 'outage');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await servedSerial(port, domain)).toBe(first.serialNumber);
      proxy.setOpen(false);
      manager.monitor();

      // Due at half of the 30-second lifetime: three failed attempts, 1 s and 2 s apart (±20 %).
      while (failures.length < 3) {
        await new Promise((r) => setTimeout(r, 100));
        expect(manager.get('outage')!.serialNumber).toBe(first.serialNumber);
      }
      proxy.setOpen(true);
      const third = failures[2]!;
      expect(failures.map((f) => f.attempt)).toEqual([1, 2, 3]);
      for (const [i, f] of failures.entries()) {
        expect(f).toMatchObject({ name: 'outage', operation: 'renew', error: { code: 'ACME_UNREACHABLE', retryable: true } });
        const step = f.nextAttemptAt!.getTime() - f.at;
        expect(step).toBeGreaterThanOrEqual(0.8 * LADDER[i]! - 50);
        expect(step).toBeLessThanOrEqual(1.2 * LADDER[i]! + 50);
        // Nothing was tried before the backoff allowed it.
        if (i > 0) expect(f.at).toBeGreaterThanOrEqual(failures[i - 1]!.nextAttemptAt!.getTime());
      }
      expect(proxy.refused).toBeGreaterThan(0);
      // Served on the wire and in status() all along.
      expect(await servedSerial(port, domain)).toBe(first.serialNumber);
      expect(manager.status()[0]).toMatchObject({ attempts: 3, renewReason: 'retry', lastError: { code: 'ACME_UNREACHABLE' } });
      expect(manager.status()[0]!.nextAttemptAt!.getTime()).toBe(third.nextAttemptAt!.getTime());

      const renewed = await new Promise<CertificateRotatedEvent & { at: number }>((resolve) => {
        manager.on('certificate:rotated', (e) => resolve({ ...e, at: Date.now() }));
      });
      expect(renewed.cause).toBe('renewed');
      expect(renewed.previous?.serialNumber).toBe(first.serialNumber);
      // At the next attempt of the ladder (plus one loop pass and the issuance itself), not later, not sooner.
      expect(renewed.at).toBeGreaterThanOrEqual(third.nextAttemptAt!.getTime());
      expect(renewed.at - third.nextAttemptAt!.getTime()).toBeLessThan(5000);
      expect(failures).toHaveLength(3);
      expect(renewed.at).toBeLessThan(first.notAfter.getTime());
      expect(manager.status()[0]).toMatchObject({ attempts: 0 });
      expect(await servedSerial(port, domain)).toBe(renewed.current.serialNumber);
      // Pebble's leaves name no CRL and its directory has no ARI: nothing else went wrong on the side.
      expect(errors.map((e) => `${e.context}: ${e.error.message}`)).toEqual([]);
    } finally {
      detach();
      server.close();
      await manager.close();
    }
  }, 90_000);
});
