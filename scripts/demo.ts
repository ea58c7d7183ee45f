/**
 * The main job, end to end, against a local Pebble: issue a real certificate
 * over ACME DNS-01, serve HTTPS with it, rotate it while a client stays
 * connected, and revoke it (replacement first). Run with `npm run demo`.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AcmeIssuer, CertificateManager, FileStore } from '../src/index.js';
import { challtestsrv } from '../providers/challtestsrv/index.js';
import { startPebble } from '../test/helpers/pebble.js';

const step = (n: number, text: string) => console.log(`\n[${n}] ${text}`);
const info = (text: string) => console.log(`    ${text}`);

/** One HTTPS GET over `agent`; resolves to the body and the serial of the certificate the server presented. */
function get(port: number, agent: https.Agent, ca: string): Promise<{ body: string; serial: string; reused: boolean; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername: 'demo.example.test', path: '/', agent, ca }, (res) => {
      const socket = res.socket as TLSSocket;
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({
        body,
        serial: socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, ''),
        reused: req.reusedSocket,
        localPort: socket.localPort ?? 0,
      }));
    });
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  step(1, 'Starting a local ACME CA (Pebble) and its DNS server (pebble-challtestsrv) on 127.0.0.1');
  const pebble = await startPebble();
  const root = await pebble.rootPem();
  info(`directory: ${pebble.directoryUrl}`);
  info(`DNS-01 records are published at ${pebble.dnsServer}`);
  const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-demo-'));

  const manager = new CertificateManager({
    store: new FileStore({ directory: dir }),
    issuer: new AcmeIssuer({
      directoryUrl: pebble.directoryUrl,
      email: 'ops@example.test',
      termsOfServiceAgreed: true,
      caCertificates: pebble.caPem,
      dns: challtestsrv({ managementUrl: pebble.challtestsrv!.managementUrl }),
      propagation: { nameservers: [pebble.dnsServer], intervalMs: 100 },
    }),
  });
  manager.on('challenge:presented', (e) => info(`TXT ${e.recordName} published for ${e.domain}`));
  manager.on('challenge:cleaned', (e) => info(`TXT ${e.recordName} removed`));
  manager.on('certificate:rotated', (e) => info(`event certificate:rotated cause=${e.cause} serial=${e.current.serialNumber}${e.previous ? ` (was ${e.previous.serialNumber})` : ''}`));
  manager.on('certificate:revoked', (e) => info(`event certificate:revoked serial=${e.serialNumber} reason=${e.reason}`));

  let server: https.Server | undefined;
  try {
    step(2, 'Issuing a certificate for demo.example.test and *.demo.example.test over ACME DNS-01');
    const started = Date.now();
    const cert = await manager.provision({ name: 'demo', domains: ['demo.example.test', '*.demo.example.test'] });
    info(`issued serial ${cert.serialNumber} (${cert.keyType}) in ${Date.now() - started} ms, valid until ${cert.notAfter.toISOString()}`);
    const current = path.join(dir, 'certificates', 'demo', 'current');
    info(`files for nginx & co: ${current} -> ${await readlink(current)}`);
    info(`fullchain.pem holds ${(await readFile(path.join(current, 'fullchain.pem'), 'utf8')).match(/BEGIN CERTIFICATE/g)?.length} certificates`);

    step(3, 'Serving HTTPS with it');
    server = https.createServer(manager.tlsOptions('demo'), (_req, res) => {
      res.end(`hello from certpilot, serial ${manager.get('demo')?.serialNumber}\n`);
    });
    manager.attach(server, 'demo');
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // The client trusts only Pebble's root, fetched after Pebble started.
    const longLived = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await get(port, longLived, root);
    info(`GET https://demo.example.test:${port}/ -> "${first.body.trim()}" (certificate serial ${first.serial}, verified against Pebble's root)`);

    step(4, 'Rotating the certificate live while that client stays connected');
    const rotated = await manager.rotate('demo');
    const fresh = await get(port, new https.Agent({ keepAlive: false }), root);
    info(`a new connection now gets serial ${fresh.serial} (expected ${rotated.serialNumber}): ${fresh.serial === rotated.serialNumber ? 'OK' : 'MISMATCH'}`);
    const again = await get(port, longLived, root);
    info(`the connection opened before the rotation still works: reused=${again.reused}, same socket=${again.localPort === first.localPort}, body "${again.body.trim()}"`);

    step(5, 'Revoking the certificate (keyCompromise): the replacement goes live first, then the CA revokes the old one');
    const old = manager.get('demo')!.serialNumber;
    const replacement = await manager.revoke('demo', { reason: 'keyCompromise' });
    const status = await pebble.certStatus(old);
    info(`the CA reports serial ${old} as ${status.Status} (reason ${status.Reason ?? 0})`);
    const after = await get(port, new https.Agent({ keepAlive: false }), root);
    info(`new connections get the replacement ${after.serial} (expected ${replacement.serialNumber}): ${after.serial === replacement.serialNumber ? 'OK' : 'MISMATCH'}`);
    longLived.destroy();
    const ok = fresh.serial === rotated.serialNumber && again.localPort === first.localPort && status.Status === 'Revoked' && after.serial === replacement.serialNumber;
    step(6, ok ? 'Done: issued, served, rotated live and revoked.' : 'Something did not match: see above.');
    if (!ok) process.exitCode = 1;
  } finally {
    server?.close();
    await manager.close();
    await pebble.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
