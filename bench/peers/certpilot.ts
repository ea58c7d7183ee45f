/**
 * certpilot peer (child process, see ./worker.ts): one CertificateManager with
 * a MemoryStore and an AcmeIssuer using the challtestsrv provider — the public
 * API as an application would use it, with the propagation check on (certpilot
 * asks challtestsrv's DNS listener for the TXT values before answering the
 * challenges; raw acme-client below skips its own check).
 */
import { readFile } from 'node:fs/promises';
import { AcmeIssuer, CertificateManager, MemoryStore } from '../../src/index.js';
import { challtestsrv } from '../../providers/challtestsrv/index.js';
import { runWorker, type WorkerConfig } from './worker.js';

const config = JSON.parse(process.env.BENCH_WORKER ?? '') as WorkerConfig;
const manager = new CertificateManager({
  store: new MemoryStore(),
  issuer: new AcmeIssuer({
    directoryUrl: config.directoryUrl,
    email: 'bench@example.test',
    termsOfServiceAgreed: true,
    caCertificates: await readFile(config.caPath, 'utf8'),
    dns: challtestsrv({ managementUrl: config.managementUrl }),
    // The first check runs at once; the interval only matters if a record is not visible yet.
    propagation: { nameservers: [config.dnsServer], intervalMs: 50 },
  }),
});

// Phase marks from certpilot's own events (per certificate name: the last challenge of each kind counts).
const marks = new Map<string, (phase: string) => void>();
manager.on('challenge:presented', ({ name }) => marks.get(name)?.('presented'));
manager.on('challenge:propagated', ({ name }) => marks.get(name)?.('propagated'));
manager.on('challenge:cleaned', ({ name }) => marks.get(name)?.('cleaned'));
manager.on('certificate:issued', ({ name }) => marks.get(name)?.('issued'));

await runWorker(
  async (apex, mark) => {
    marks.set(apex, mark);
    try {
      const certificate = await manager.provision({ name: apex, domains: [apex, `*.${apex}`] });
      return certificate.fullchain;
    } finally {
      marks.delete(apex);
    }
  },
  () => manager.close(),
);
