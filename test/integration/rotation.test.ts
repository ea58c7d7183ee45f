/**
 * Graceful rotation under load, with real TLS over 127.0.0.1: a
 * CertificateManager (LocalIssuer, MemoryStore) rotates a served certificate
 * 100 times while clients keep opening new connections and a connection
 * opened before the first rotation keeps echoing. Then the post-rotation
 * check: one `certificate:served` per attached server, and a server whose
 * context is replaced behind the manager's back is caught.
 */
import { once } from 'node:events';
import https from 'node:https';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { isCertpilotError } from '../../src/errors.js';
import type { CertificateServedEvent, ErrorEvent } from '../../src/events.js';
import { LocalIssuer } from '../../src/local/issuer.js';
import { CertificateManager } from '../../src/manager.js';
import { MemoryStore } from '../../src/storage/memory.js';
import { close, echoServer, listen } from '../unit/tls/net.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DOMAINS = ['api.rotation.test', '*.rotation.test'];

async function setup() {
  const store = new MemoryStore();
  const issuer = new LocalIssuer({ name: 'rotation test CA' });
  const manager = new CertificateManager({ store, issuer });
  cleanups.push(() => manager.close());
  const first = await manager.provision({ name: 'api', domains: DOMAINS });
  const ca = await issuer.rootCertificate(store);
  return { manager, first, ca };
}

async function serve<T extends tls.Server>(server: T): Promise<{ server: T; port: number }> {
  const port = await listen(server);
  cleanups.push(() => close(server));
  return { server, port };
}

const normalize = (serial: string) => serial.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');

/** One full handshake on a new connection, verified against `ca` and `api.rotation.test`; resolves with the served serial. */
function handshake(port: number, ca: string, servername: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1', port, ca, servername: servername ?? '',
      // Without SNI the name to check is not the one connected to (127.0.0.1).
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername ?? 'api.rotation.test', cert),
    });
    socket.once('secureConnect', () => {
      const serial = normalize(socket.getPeerCertificate().serialNumber);
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', (error) => { socket.destroy(); reject(error); });
  });
}

/** Writes and waits for the echo of exactly that text. */
function echo(socket: tls.TLSSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length < text.length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      if (got === text) resolve();
      else reject(new Error(`echo mismatch: sent ${text}, got ${got}`));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

async function until<T>(read: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('rotation under load', () => {
  it('rotates 100 times with zero failed handshakes; new handshakes present the new serial; an open connection keeps echoing', async () => {
    const { manager, first, ca } = await setup();
    const { server, port: attachedPort } = await serve(echoServer(manager.tlsOptions('api')));
    cleanups.push(manager.attach(server, 'api'));

    // Generation of every serial, recorded when the manager activates it (before rotate() resolves).
    const generation = new Map<string, number>([[first.serialNumber, 0]]);
    manager.on('certificate:rotated', (event) => generation.set(event.current.serialNumber, generation.size));
    const served: CertificateServedEvent[] = [];
    const errors: ErrorEvent[] = [];
    manager.on('certificate:served', (event) => served.push(event));
    manager.on('error', (event) => errors.push(event));

    let completed = 0; // generation whose rotate() has resolved
    let stop = false;
    const failures: string[] = [];
    const stale: string[] = [];
    let handshakes = 0;

    // Four clients, each asking differently: exact name, exact name, wildcard name, no SNI (the attached default).
    const names = ['api.rotation.test', 'api.rotation.test', 'node7.rotation.test', undefined];
    const clients = names.map(async (servername) => {
      while (!stop) {
        const started = completed;
        try {
          const serial = await handshake(attachedPort, ca, servername);
          handshakes++;
          const gen = generation.get(serial);
          if (gen === undefined || gen < started) stale.push(`${servername ?? '(no SNI)'} started after generation ${started} completed, got ${gen ?? serial}`);
        } catch (error) {
          failures.push(`${servername ?? '(no SNI)'}: ${(error as Error).message}`);
        }
      }
    });

    // The long-lived connection, opened before the first rotation.
    const longLived = tls.connect({ host: '127.0.0.1', port: attachedPort, ca, servername: 'api.rotation.test' });
    await once(longLived, 'secureConnect');
    expect(normalize(longLived.getPeerCertificate().serialNumber)).toBe(first.serialNumber);
    let echoes = 0;
    let lastEchoAfterLastRotation = false;
    let rotationsDone = false;
    const chatter = (async () => {
      while (!stop) {
        await echo(longLived, `ping ${echoes}\n`);
        echoes++;
        if (rotationsDone) lastEchoAfterLastRotation = true;
        await sleep(5);
      }
    })();

    const ROTATIONS = 100;
    for (let i = 0; i < ROTATIONS; i++) {
      const next = await manager.rotate('api');
      completed = generation.get(next.serialNumber)!;
      await sleep(5); // room for handshakes between rotations
    }
    rotationsDone = true;
    const last = manager.get('api')!.serialNumber;
    await until(() => (lastEchoAfterLastRotation && handshakes > 0 ? true : undefined), 'traffic after the last rotation');
    await sleep(50);
    stop = true;
    await Promise.all(clients);
    await chatter;

    expect(failures).toEqual([]);
    expect(stale).toEqual([]);
    expect(generation.size).toBe(ROTATIONS + 1);
    expect(handshakes).toBeGreaterThan(ROTATIONS * 2);
    expect(echoes).toBeGreaterThan(50);
    // Still the same connection, with the certificate it started with.
    expect(longLived.destroyed).toBe(false);
    expect(normalize(longLived.getPeerCertificate().serialNumber)).toBe(first.serialNumber);
    await echo(longLived, 'bye\n');
    longLived.destroy();

    for (const name of names) expect(await handshake(attachedPort, ca, name)).toBe(last);
    // Checks ran during the burst; the last one judged the final certificate, and none failed.
    await until(() => served.find((e) => e.serialNumber === last), 'the check of the last certificate');
    expect(served.filter((e) => !e.ok)).toEqual([]);
    expect(errors).toEqual([]);
    console.log(`rotation: ${ROTATIONS} rotations, ${handshakes} handshakes, ${echoes} echoes on one connection, ${served.length} checks`);
  });
});

describe('post-rotation check (certificate:served)', () => {
  it('reports ok per attached server, reports a server serving something else as ok=false plus an error, skips verify:false', async () => {
    const { manager, first, ca } = await setup();
    const plain = (await serve(echoServer(manager.tlsOptions('api')))).server;
    const web = (await serve(https.createServer(manager.tlsOptions('api'), (_req, res) => res.end('ok')))).server;
    const rogue = (await serve(echoServer(manager.tlsOptions('api')))).server;
    const quiet = (await serve(echoServer(manager.tlsOptions('api')))).server;
    const idle = echoServer(manager.tlsOptions('api')); // never listens: nothing to check
    for (const server of [plain, web, rogue, idle]) cleanups.push(manager.attach(server, 'api'));
    cleanups.push(manager.attach(quiet, 'api', { verify: false }));
    // Behind the manager's back: another reload hook puts the old certificate back on one server.
    manager.on('certificate:rotated', () => rogue.setSecureContext({ cert: first.fullchain, key: first.key }));

    const served: CertificateServedEvent[] = [];
    const errors: ErrorEvent[] = [];
    manager.on('certificate:served', (event) => served.push(event));
    manager.on('error', (event) => errors.push(event));

    const next = await manager.rotate('api');
    const address = (server: tls.Server) => `127.0.0.1:${(server.address() as { port: number }).port}`;
    await until(() => (served.length >= 3 && errors.length >= 1 ? true : undefined), 'three checks and an error');
    await sleep(200); // nothing more is coming

    expect(served).toHaveLength(3);
    const byAddress = new Map(served.map((e) => [e.address, e]));
    expect(byAddress.get(address(plain))).toEqual({ name: 'api', serialNumber: next.serialNumber, ok: true, address: address(plain), servedSerialNumber: next.serialNumber });
    expect(byAddress.get(address(web))).toMatchObject({ ok: true, servedSerialNumber: next.serialNumber });
    expect(byAddress.get(address(rogue))).toEqual({
      name: 'api', serialNumber: next.serialNumber, ok: false, address: address(rogue), servedSerialNumber: first.serialNumber,
    });
    expect(byAddress.has(address(quiet))).toBe(false);

    expect(errors).toHaveLength(1);
    const error = errors[0]!.error;
    expect(isCertpilotError(error) && error.code).toBe('CERTIFICATE_CHECK_FAILED');
    expect(error.message).toContain(address(rogue));
    expect(error.message).toContain(first.serialNumber);
    // The check is real: a client without SNI does get the old certificate from the rogue server.
    expect(await handshake((rogue.address() as { port: number }).port, ca, undefined).catch((e: Error) => e.message)).toBe(first.serialNumber);
  });
});
