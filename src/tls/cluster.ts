/**
 * Multi-process and multi-thread serving: one manager, many servers.
 *
 * The primary (cluster) or main thread runs the {@link CertificateManager}
 * — one ACME account, one order per name, one control loop — and hands
 * certificates to the processes or threads that own the sockets. Each of
 * those builds its own secure contexts (OpenSSL objects cannot cross a
 * process or thread boundary) from the PEM it receives, through the same
 * `tlsOptions`/`attach` code the manager uses.
 *
 * The protocol is pull-then-push so that no worker misses a certificate,
 * whatever the start-up order: a worker's source says `hello` and receives
 * a snapshot of every certificate; from then on it receives each rotation.
 * When the primary starts sharing after workers said hello, it asks them to
 * say it again. Private keys travel only over the IPC channel or the
 * MessagePort — the channel a worker already trusts with its own memory —
 * and are never logged or put in errors.
 */
import { randomBytes } from 'node:crypto';
import type { Serializable } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import type tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { toInfo, type ManagedCertificate } from '../certificate.js';
import { CertpilotError, ConfigError } from '../errors.js';
import type { CertificateRotatedEvent, CertificateServedEvent, ErrorEvent, RotationCause } from '../events.js';
import { buildCertificate } from '../x509/parse.js';
import { attach, type AttachOptions } from './attach.js';
import { ContextCache } from './context-cache.js';
import { emitWarning } from './sni.js';
import type { CertificateSource } from './source.js';
import { tlsOptions, type TlsOptionsOptions, type TlsServerOptions } from './tls-options.js';

/** The PEM a worker needs; every other field is derived again on arrival, so nothing depends on how dates serialize. */
interface WireCertificate { name: string; domains: string[]; fullchain: string; key: string }

/** @internal The messages, tagged so that an application's own IPC traffic is left alone. */
type Message =
  | { certpilot: 'hello' }
  | { certpilot: 'announce' }
  | { certpilot: 'snapshot'; certificates: WireCertificate[]; ticketKeys: string }
  | { certpilot: 'rotated'; cause: RotationCause; certificate: WireCertificate };

/**
 * One end of a message channel (an IPC link, a MessagePort), for a
 * {@link ClusterCertificateSource} over a transport of your own. Messages
 * are plain objects with strings and arrays: any structured-clone or JSON
 * transport carries them.
 *
 * @example
 * ```ts
 * const channel: CertificateChannel = {
 *   send: (m) => port.postMessage(m),
 *   subscribe: (fn) => { port.on('message', fn); return () => port.off('message', fn); },
 * };
 * new ClusterCertificateSource(channel);
 * ```
 */
export interface CertificateChannel {
  /** Sends one message to the other end. */
  send(message: unknown): void;
  /** Calls `listener` with every message from the other end; returns the unsubscribe function. */
  subscribe(listener: (message: unknown) => void): () => void;
}

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' && value !== null && typeof (value as { certpilot?: unknown }).certpilot === 'string';

const wire = ({ name, domains, fullchain, key }: ManagedCertificate): WireCertificate => ({ name, domains, fullchain, key });

/**
 * Options of {@link shareCertificates} and {@link shareCertificatesWithPort}.
 *
 * @example
 * ```ts
 * shareCertificates(manager, { ticketKeys: await loadTicketKeys() });
 * ```
 */
export interface ShareOptions {
  /**
   * Session ticket keys (48 bytes) every worker serves with, so that a
   * client resumes on whichever worker its next connection lands. Workers
   * draw their own after a rotation that replaces ticket keys (a revocation),
   * losing cross-worker resumption until they restart — never the other way
   * round.
   * @default 48 random bytes per call
   */
  ticketKeys?: Buffer;
}

/** Something to send messages to: a worker, a port. */
type Peer = { send(message: Message): void };

/**
 * The sharing side, common to IPC and ports: answers each `hello` with a
 * snapshot and then sends that peer every rotation. `listen` wires the
 * transport and returns its unsubscribe function.
 */
function share(
  source: CertificateSource, options: ShareOptions, present: Peer[],
  listen: (hello: (peer: Peer) => void, gone: (peer: Peer) => void) => () => void,
): () => void {
  if (options.ticketKeys !== undefined && options.ticketKeys.length !== 48) {
    throw new ConfigError('INVALID_OPTIONS', `ticketKeys must be 48 bytes, got ${options.ticketKeys.length}`);
  }
  const ticketKeys = (options.ticketKeys ?? randomBytes(48)).toString('base64');
  const subscribed = new Set<Peer>();
  const unlisten = listen((peer) => {
    subscribed.add(peer);
    peer.send({ certpilot: 'snapshot', certificates: source.list().map(wire), ticketKeys });
  }, (peer) => subscribed.delete(peer));
  const onRotated = ({ name, cause }: CertificateRotatedEvent): void => {
    const certificate = source.get(name);
    if (certificate) for (const peer of subscribed) peer.send({ certpilot: 'rotated', cause, certificate: wire(certificate) });
  };
  source.on('certificate:rotated', onRotated);
  // Workers that said hello before anyone listened: ask them again.
  for (const peer of present) peer.send({ certpilot: 'announce' });
  return () => {
    source.off('certificate:rotated', onRotated);
    unlisten();
    subscribed.clear();
  };
}

/**
 * For the cluster primary: sends every current certificate, then every
 * rotation, to each worker whose {@link workerCertificates} source asks for
 * them — including workers forked later and workers restarted after a
 * crash. Returns `stop`.
 *
 * @example
 * ```ts
 * if (cluster.isPrimary) {
 *   const manager = new CertificateManager({ store, issuer });
 *   await manager.provision({ name: 'api', domains: ['api.example.com'] });
 *   shareCertificates(manager);
 *   manager.monitor();
 *   for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
 * }
 * ```
 */
export function shareCertificates(manager: CertificateSource, options: ShareOptions = {}): () => void {
  if (!cluster.isPrimary) throw new ConfigError('INVALID_OPTIONS', 'shareCertificates() runs in the cluster primary; workers call workerCertificates()');
  const peers = new Map<number, Peer>();
  const peerOf = (worker: Worker): Peer => {
    // A worker that is exiting drops the message; its replacement says hello again.
    const peer = peers.get(worker.id) ?? { send: (m: Message) => { if (worker.isConnected()) worker.send(m as Serializable, undefined, () => undefined); } };
    peers.set(worker.id, peer);
    return peer;
  };
  const present = Object.values(cluster.workers ?? {}).flatMap((w) => (w?.isConnected() ? [peerOf(w)] : []));
  return share(manager, options, present, (hello, gone) => {
    const onMessage = (worker: Worker, message: unknown) => { if (isMessage(message) && message.certpilot === 'hello') hello(peerOf(worker)); };
    const onExit = (worker: Worker) => {
      const peer = peers.get(worker.id);
      peers.delete(worker.id);
      if (peer) gone(peer);
    };
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    return () => { cluster.off('message', onMessage); cluster.off('exit', onExit); };
  });
}

/**
 * The part of a `MessagePort` (or a `worker_threads` `Worker`, or
 * `parentPort`) that sharing needs.
 *
 * @example
 * ```ts
 * const port: PortLike = new Worker(new URL('./server.js', import.meta.url));
 * ```
 */
export interface PortLike {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

function portChannel(port: PortLike): CertificateChannel {
  return {
    send: (message) => port.postMessage(message),
    subscribe: (listener) => {
      port.on('message', listener);
      return () => port.off('message', listener);
    },
  };
}

/**
 * For `worker_threads`: the main thread shares the manager's certificates
 * with one thread through `port` (the `Worker` object, or one end of a
 * `MessageChannel`); the thread reads them with {@link portCertificates}.
 * Returns `stop`.
 *
 * @example
 * ```ts
 * const worker = new Worker(new URL('./server.js', import.meta.url));
 * const stop = shareCertificatesWithPort(manager, worker);
 * ```
 */
export function shareCertificatesWithPort(manager: CertificateSource, port: PortLike, options: ShareOptions = {}): () => void {
  const channel = portChannel(port);
  return share(manager, options, [channel], (hello) =>
    channel.subscribe((message) => { if (isMessage(message) && message.certpilot === 'hello') hello(channel); }));
}

/** Events of {@link ClusterCertificateSource}. */
export interface ClusterSourceEvents {
  /** A certificate arrived or changed (`cause` as the primary reported it; `loaded` for the first snapshot). */
  'certificate:rotated': (event: CertificateRotatedEvent) => void;
  /** Outcome of the post-rotation check of a server attached through this source. */
  'certificate:served': (event: CertificateServedEvent) => void;
  /** A problem outside any caller's promise (a rotation that could not be applied, a mismatch, a bad message). */
  error: (event: ErrorEvent) => void;
}

/**
 * Options of {@link ClusterCertificateSource}.
 *
 * @example
 * ```ts
 * workerCertificates({ contextCacheSize: 1000 });
 * ```
 */
export interface ClusterSourceOptions {
  /** Secure contexts cached in this worker (one per certificate version). @default 256 */
  contextCacheSize?: number;
}

/**
 * The certificates of a cluster worker or worker thread, fed by the primary
 * ({@link shareCertificates}) or the main thread
 * ({@link shareCertificatesWithPort}). A {@link CertificateSource}, so the
 * worker's servers use the library's own `tlsOptions` and `attach` through
 * {@link ClusterCertificateSource.tlsOptions} and
 * {@link ClusterCertificateSource.attach}.
 *
 * @example
 * ```ts
 * const certificates = workerCertificates();
 * await certificates.ready();
 * const server = https.createServer(certificates.tlsOptions('api'), app);
 * certificates.attach(server, 'api');
 * server.listen(443);
 * ```
 */
export class ClusterCertificateSource extends EventEmitter<ClusterSourceEvents> implements CertificateSource {
  readonly #certificates = new Map<string, ManagedCertificate>();
  readonly #cache: ContextCache;
  readonly #channel: CertificateChannel;
  readonly #unsubscribe: () => void;
  #ticketKeys: Buffer | undefined;
  #arrived: (() => void) | undefined;
  readonly #first: Promise<void>;

  constructor(channel: CertificateChannel, options: ClusterSourceOptions = {}) {
    super();
    this.#cache = new ContextCache({ max: options.contextCacheSize ?? 256 });
    this.#channel = channel;
    this.#first = new Promise((resolve) => { this.#arrived = resolve; });
    this.#unsubscribe = channel.subscribe((message) => { if (isMessage(message)) this.#receive(message); });
    channel.send({ certpilot: 'hello' });
  }

  /** The active certificate of `name`, as last received. */
  get(name: string): ManagedCertificate | undefined {
    return this.#certificates.get(name);
  }

  /** Every certificate received. */
  list(): ManagedCertificate[] {
    return [...this.#certificates.values()];
  }

  /**
   * Resolves once at least one certificate arrived; rejects with a
   * `CertpilotError` `TIMEOUT` after `timeoutMs` (usually: the primary does
   * not call `shareCertificates`).
   */
  ready(timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CertpilotError('TIMEOUT', `No certificates arrived within ${timeoutMs} ms: does the primary (or main thread) call shareCertificates(manager)?`)), timeoutMs);
    });
    return Promise.race([this.#first, timeout]).finally(() => clearTimeout(timer));
  }

  /** `tlsOptions` for a server of this worker: `name` by default, every certificate by SNI, the primary's ticket keys. */
  tlsOptions(name?: string, options: TlsOptionsOptions = {}): TlsServerOptions {
    const result = tlsOptions(this, this.#cache, name, { onError: (error) => this.#report(error, 'tls'), ...options });
    return this.#ticketKeys ? { ...result, ticketKeys: this.#ticketKeys } : result;
  }

  /** `attach` for a server of this worker: applies every rotation the primary sends; checks are reported as `certificate:served`. */
  attach(server: tls.Server, name?: string, options: AttachOptions = {}): () => void {
    return attach(this, this.#cache, server, name, {
      onError: (error) => this.#report(error, 'attach'), onVerified: (event) => this.#fire('certificate:served', event), ...options,
    });
  }

  /** Stops listening to the channel; servers keep what they serve. */
  close(): void {
    this.#unsubscribe();
  }

  #receive(message: Message): void {
    try {
      if (message.certpilot === 'announce') this.#channel.send({ certpilot: 'hello' });
      else if (message.certpilot === 'snapshot') {
        this.#ticketKeys ??= Buffer.from(message.ticketKeys, 'base64');
        for (const certificate of message.certificates) this.#apply(certificate, this.#certificates.has(certificate.name) ? 'remote' : 'loaded');
      } else if (message.certpilot === 'rotated') this.#apply(message.certificate, message.cause);
    } catch (error) {
      // Only the message kind is named: the payload holds a private key.
      this.#report(error as Error, `certificate message "${message.certpilot}"`);
    }
  }

  #apply(received: WireCertificate, cause: RotationCause): void {
    const certificate = buildCertificate(received.name, received.domains, received.fullchain, received.key);
    const previous = this.#certificates.get(certificate.name);
    if (previous?.fingerprint256 === certificate.fingerprint256 && previous.fullchain === certificate.fullchain) return;
    // State first, then the event: listeners (attach, the SNI table) read get(name).
    this.#certificates.set(certificate.name, certificate);
    this.#fire('certificate:rotated', { name: certificate.name, current: toInfo(certificate), ...(previous ? { previous: toInfo(previous) } : {}), cause });
    this.#arrived?.();
  }

  /** Each listener on its own, like the manager: one that throws neither stops the others nor crashes the worker. */
  #fire<E extends keyof ClusterSourceEvents>(event: E, payload: Parameters<ClusterSourceEvents[E]>[0]): void {
    for (const listener of this.listeners(event)) {
      try {
        (listener as (p: typeof payload) => void)(payload);
      } catch (error) {
        if (event !== 'error') this.#report(error as Error, `listener of ${event}`);
      }
    }
  }

  #report(error: CertpilotError | Error, context: string): void {
    if (this.listenerCount('error') === 0) emitWarning(error);
    else this.#fire('error', { error, context });
  }
}

/**
 * The certificates the cluster primary shares, for a cluster worker (or any
 * child process with an IPC channel whose parent runs the sharing side).
 *
 * @example
 * ```ts
 * if (cluster.isWorker) {
 *   const certificates = workerCertificates();
 *   await certificates.ready();
 *   https.createServer(certificates.tlsOptions('api'), app).listen(443);
 * }
 * ```
 */
export function workerCertificates(options: ClusterSourceOptions = {}): ClusterCertificateSource {
  if (typeof process.send !== 'function') {
    throw new ConfigError('INVALID_OPTIONS', 'workerCertificates() needs an IPC channel to the primary: call it in a cluster worker (or a forked child)');
  }
  const channel: CertificateChannel = {
    send: (message) => { if (process.connected) process.send!(message, undefined, undefined, () => undefined); },
    subscribe: (listener) => {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
  };
  return new ClusterCertificateSource(channel, options);
}

/**
 * The certificates the main thread shares through `port`, for a
 * `worker_threads` thread (`portCertificates(parentPort!)`).
 *
 * @example
 * ```ts
 * const certificates = portCertificates(parentPort!);
 * await certificates.ready();
 * tls.createServer(certificates.tlsOptions(), onSocket).listen(8443);
 * ```
 */
export function portCertificates(port: PortLike, options: ClusterSourceOptions = {}): ClusterCertificateSource {
  return new ClusterCertificateSource(portChannel(port), options);
}
