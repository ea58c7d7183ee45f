/**
 * Real-socket helpers for the TLS tests: start servers on 127.0.0.1, close
 * them with every connection, and probe them with a client that reports
 * which certificate it was served and whether its session was resumed.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { normalizeSerial } from '../../helpers/selfsigned.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

const open = new WeakMap<net.Server, Set<net.Socket>>();
const sessions = new WeakMap<tls.TLSSocket, Buffer>();

/** Listens on an ephemeral 127.0.0.1 port and tracks connections so `close` can end them. */
export async function listen(server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  open.set(server, sockets);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/** Closes the server and destroys its connections (keep-alive and h2 sessions would hold it open). */
export async function close(server: net.Server): Promise<void> {
  for (const socket of open.get(server) ?? []) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A TLS echo server (`tls.createServer`). */
export function echoServer(options: tls.TlsOptions): tls.Server {
  return tls.createServer(options, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
}

/** Options of {@link connect} and {@link probe}. */
export interface ClientOptions {
  ca: string;
  servername?: string;
  version?: TlsVersion;
  session?: Buffer;
}

/**
 * Opens a verified TLS connection. The chain is checked against `ca` (so a
 * missing intermediate fails), but not the name: tests look at *which*
 * certificate came back, including for names it does not cover.
 */
export async function connect(port: number, options: ClientOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: options.ca,
    ...(options.servername ? { servername: options.servername } : {}),
    ...(options.version ? { minVersion: options.version, maxVersion: options.version } : {}),
    ...(options.session ? { session: options.session } : {}),
    checkServerIdentity: () => undefined,
  });
  // Listen from the start: a TLS 1.2 ticket arrives inside the handshake.
  socket.on('session', (ticket: Buffer) => sessions.set(socket, ticket));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

/**
 * Serial (library spelling) of the certificate the peer presented; empty for
 * a resumed session, where the client has no certificate to show.
 */
export function servedSerial(socket: tls.TLSSocket): string {
  const serial = socket.getPeerCertificate().serialNumber as string | undefined;
  return serial ? normalizeSerial(serial) : '';
}

/** Result of {@link probe}. */
export interface Probe {
  serial: string;
  reused: boolean;
  protocol: string | null;
  /** The last session (ticket) the client received, for a later resumption. */
  session: Buffer | undefined;
}

/**
 * Connects, waits for a session ticket (TLS 1.3 sends tickets after the
 * handshake), and disconnects.
 */
export async function probe(port: number, options: ClientOptions): Promise<Probe> {
  const socket = await connect(port, options);
  // A resumed TLS 1.2 session gets no new ticket: do not wait long for one.
  if (!sessions.has(socket)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, socket.isSessionReused() ? 200 : 1000);
      socket.once('session', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  const session = sessions.get(socket);
  const result = { serial: servedSerial(socket), reused: socket.isSessionReused(), protocol: socket.getProtocol(), session };
  socket.destroy();
  return result;
}

/** Writes `data` and resolves with the first chunk that comes back. */
export async function roundTrip(socket: tls.TLSSocket, data: string): Promise<string> {
  const reply = new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('error', reject);
  });
  socket.write(data);
  return reply;
}
