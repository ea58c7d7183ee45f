/**
 * One fleet instance in its own process (run with `node --import tsx`):
 * a CertificateManager on a shared RedisStore, an issuer when the config has
 * `acme` (else a follower), and an HTTPS server that serves the managed
 * certificate through tlsOptions + attach. Driven by the parent over IPC
 * (see protocol.ts); it exits when the parent goes away, so no worker ever
 * outlives a test run.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { AcmeIssuer } from '../../src/acme/issuer.js';
import type { DnsProvider } from '../../src/challenges/provider.js';
import { isCertpilotError } from '../../src/errors.js';
import { CertificateManager } from '../../src/manager.js';
import { RedisStore } from '../../src/storage/redis.js';
import { exactChalltestsrv } from './exact-challtestsrv.js';
import type { Command, Message, WorkerConfig } from './protocol.js';

const config = JSON.parse(process.env.CERTPILOT_FLEET ?? '{}') as WorkerConfig;
const send = (message: Message) => { if (process.connected) process.send!(message); };
// The parent died or disconnected: nothing is left to report to.
process.on('disconnect', () => process.exit(0));

const store = new RedisStore({ url: config.redisUrl, prefix: config.prefix, commandTimeoutMs: 5000 });

function issuer() {
  if (!config.acme) return undefined;
  const acme = config.acme;
  let dns: DnsProvider = exactChalltestsrv({ managementUrl: acme.managementUrl, dnsServer: acme.dnsServer });
  if (config.hangAfterPresent) dns = hangAfterPresent(dns);
  // AcmeIssuer journals every record it creates in the store and, under the name's lock, removes what a
  // dead holder left behind before it orders (reported below as challenge:cleaned before any presented).
  return new AcmeIssuer({
    directoryUrl: acme.directoryUrl,
    termsOfServiceAgreed: true,
    caCertificates: acme.caPem,
    dns,
    propagation: { nameservers: [acme.dnsServer], intervalMs: 50, timeoutMs: 10_000 },
  });
}

/** Creates the records, says so, then never returns: a process stuck (and soon killed) mid-order. */
function hangAfterPresent(dns: DnsProvider): DnsProvider {
  return {
    ...dns,
    name: dns.name,
    async appendRecords(zone, records, options) {
      await dns.appendRecords(zone, records, options);
      send({ type: 'presented', at: Date.now() });
      return new Promise<never>(() => undefined);
    },
  };
}

const iss = issuer();
const manager = new CertificateManager({
  store,
  ...(iss ? { issuer: iss } : {}),
  lockTtlMs: config.lockTtlMs,
  checkIntervalMs: config.checkIntervalMs,
});
// Only this worker's name: sync() under monitor() also loads every other certificate in the shared store.
manager.on('certificate:rotated', (e) => { if (e.name === config.name) send({ type: 'rotated', serial: e.current.serialNumber, cause: e.cause, at: Date.now() }); });
let presented = false;
manager.on('challenge:presented', () => { presented = true; send({ type: 'presented', at: Date.now() }); });
// Cleanups before this worker presented anything are a dead holder's leftovers, removed by recovery.
manager.on('challenge:cleaned', () => { if (!presented) send({ type: 'recovered', records: 1, kept: 0 }); });
manager.on('error', (e) => send({ type: 'log', message: `${e.context}: ${e.error.message}` }));

let server: https.Server | undefined;

async function serve(): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (!manager.get(config.name)) {
    await manager.sync();
    if (manager.get(config.name)) break;
    if (Date.now() > deadline) throw new Error(`no certificate "${config.name}" in the store after 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  server = https.createServer(manager.tlsOptions(config.name), (_req, res) => res.end(manager.get(config.name)?.serialNumber ?? ''));
  manager.attach(server, config.name);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function run(command: Command): Promise<Omit<Extract<Message, { type: 'done' }>, 'type' | 'id' | 'at'>> {
  switch (command.cmd) {
    case 'provision':
      return { serial: (await manager.provision({ name: config.name, domains: config.domains })).serialNumber };
    case 'rotate':
      return { serial: (await manager.rotate(config.name)).serialNumber };
    case 'serve':
      return { port: await serve() };
    case 'monitor':
      manager.monitor();
      return {};
    case 'close':
      server?.close();
      server?.closeAllConnections();
      await manager.close();
      await store.close();
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (command: Command) => {
  run(command).then(
    (result) => send({ type: 'done', id: command.id, at: Date.now(), ...result }),
    (error: unknown) => send({
      type: 'failed', id: command.id, message: error instanceof Error ? error.message : String(error),
      ...(isCertpilotError(error) ? { code: error.code } : {}),
    }),
  );
});

send({ type: 'ready', pid: process.pid });
