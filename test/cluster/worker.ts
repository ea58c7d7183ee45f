/**
 * A cluster worker for test/integration/cluster.test.ts (run by
 * `cluster.fork()` under `node --import tsx`): serves HTTPS on the shared
 * port from certificates the primary sends over IPC, answers every request
 * with its worker id, and reports what it received to the primary.
 */
import cluster from 'node:cluster';
import https from 'node:https';
import { workerCertificates } from '../../src/tls/cluster.js';

const send = (message: object) => { if (process.connected) process.send!(message); };
// The primary (the test) went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));

const certificates = workerCertificates();
certificates.on('certificate:rotated', (event) => send({ type: 'rotated', serialNumber: event.current.serialNumber, cause: event.cause, at: Date.now() }));
certificates.on('certificate:served', (event) => send({ type: 'served', ...event }));
certificates.on('error', ({ error, context }) => send({ type: 'error', message: error.message, context }));
await certificates.ready();

const id = cluster.worker!.id;
const server = https.createServer(certificates.tlsOptions('api'), (_request, response) => response.end(JSON.stringify({ worker: id })));
certificates.attach(server, 'api');
server.listen(Number(process.env.CERTPILOT_PORT), '127.0.0.1', () => send({ type: 'listening', worker: id }));
