/**
 * A worker_threads thread for test/integration/cluster.test.ts: serves TLS
 * from certificates the main thread shares over `parentPort` and replies to
 * each connection with the serial it holds for `api`.
 */
import tls from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import { portCertificates } from '../../src/tls/cluster.js';

const port = parentPort!;
const certificates = portCertificates(port);
certificates.on('certificate:rotated', (event) => port.postMessage({ type: 'rotated', serialNumber: event.current.serialNumber }));
await certificates.ready();

const server = tls.createServer(certificates.tlsOptions('api'), (socket) => {
  socket.on('error', () => undefined);
  socket.end(certificates.get('api')!.serialNumber);
});
certificates.attach(server, 'api');
server.listen((workerData as { port: number }).port, '127.0.0.1', () => port.postMessage({ type: 'listening' }));
// Stop serving when the main thread says so, so the thread can end.
port.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') { certificates.close(); server.close(); port.close(); }
});
