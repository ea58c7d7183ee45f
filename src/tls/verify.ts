/**
 * Post-rotation verification: a loopback TLS handshake against a running
 * server to see which certificate it really presents.
 *
 * `setSecureContext` returning is not proof: a second reload hook, a proxy
 * library or user code may call `setSecureContext` (or swap the
 * `SNICallback`) behind certpilot, and a mistake there only shows once a
 * client complains. Asking the server itself, the way a client would, turns
 * that silence into an event. Serials are compared rather than chains
 * verified (`rejectUnauthorized: false`): a private CA or a name the probe
 * cannot match must not mask the one question asked — is this the new one?
 */
import net from 'node:net';
import tls from 'node:tls';
import type { CertificateInfo } from '../certificate.js';
import { CertificateError, type CertpilotError } from '../errors.js';
import type { CertificateServedEvent } from '../events.js';
import { SniIndex } from './sni.js';
import type { CertificateSource } from './source.js';

/** Pauses before re-checking a failed check; only a failure that persists is reported. */
const CONFIRM_DELAYS_MS = [100, 400];

/** Label put in front of a wildcard's base to get a name the wildcard covers. */
const WILDCARD_LABEL = 'certpilot-verify';

/**
 * Options of {@link verifyServed}.
 *
 * @example
 * ```ts
 * await verifyServed(server, manager.get('api')!, { checkDefault: true, timeoutMs: 2000 });
 * ```
 */
export interface VerifyServedOptions {
  /**
   * Server name to send, or `false` to send none (then only the default
   * context is checked).
   * @default {@link verifyServername} of the certificate
   */
  servername?: string | false;
  /**
   * Also check what clients that send no server name get, that is the
   * server's default context (what `attach` sets). Only meaningful for the
   * certificate the server is attached to.
   * @default false
   */
  checkDefault?: boolean;
  /**
   * Longest wait for one handshake.
   * @default 5000
   */
  timeoutMs?: number;
}

/**
 * A server name whose handshake reaches `certificate`: its first exact
 * domain, else `certpilot-verify.<base>` for a wildcard `*.<base>`. With
 * `served` (the certificates of the server's SNI table, default first), only
 * names that the table routes to this certificate qualify — another
 * certificate claiming the same name would otherwise look like a mismatch.
 * `undefined` when no name reaches it.
 *
 * @example
 * ```ts
 * verifyServername({ name: 'w', domains: ['*.example.com'] }); // 'certpilot-verify.example.com'
 * ```
 */
export function verifyServername(
  certificate: Pick<CertificateInfo, 'name' | 'domains'>,
  served?: ConstructorParameters<typeof SniIndex>[0],
): string | undefined {
  const candidates = [
    ...certificate.domains.filter((d) => !d.startsWith('*.')),
    ...certificate.domains.filter((d) => d.startsWith('*.')).map((d) => `${WILDCARD_LABEL}.${d.slice(2)}`),
  ];
  if (!served) return candidates[0];
  const index = new SniIndex(served);
  return candidates.find((host) => index.lookup(host)?.name === certificate.name);
}

/**
 * Where a listening server can be reached from this host, or `undefined`
 * when it is not listening. Wildcard binds (`0.0.0.0`, `::`) are reached
 * through the loopback address of their family.
 *
 * @example
 * ```ts
 * loopbackAddress(server); // { host: '127.0.0.1', port: 8443, label: '127.0.0.1:8443' }
 * ```
 */
export function loopbackAddress(server: net.Server):
  | { host: string; port: number; label: string }
  | { path: string; label: string }
  | undefined {
  if (!server.listening) return undefined;
  const address = server.address();
  if (!address) return undefined;
  if (typeof address === 'string') return { path: address, label: address };
  let host = address.address;
  if (host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return { host, port: address.port, label: net.isIPv6(host) ? `[${host}]:${address.port}` : `${host}:${address.port}` };
}

/**
 * Serial (lower-case hex, no colons, no leading zeros: the library's
 * spelling) of the certificate `server` presents to a handshake over
 * loopback. Rejects when the handshake fails or times out.
 *
 * @example
 * ```ts
 * const serial = await servedSerial(server, { servername: 'api.example.com' });
 * ```
 */
export async function servedSerial(server: net.Server, options: { servername?: string; timeoutMs?: number } = {}): Promise<string> {
  const address = loopbackAddress(server);
  if (!address) throw new Error('the server is not listening');
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise<string>((resolve, reject) => {
    const socket = tls.connect({
      ...('path' in address ? { path: address.path } : { host: address.host, port: address.port }),
      // An empty name makes Node send no SNI extension: that is how the default context is reached.
      servername: options.servername ?? '',
      rejectUnauthorized: false,
    });
    // A probe in flight must never keep a process alive that is otherwise done.
    socket.unref();
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const finish = (error: Error | undefined, serial?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(serial!);
    };
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate().serialNumber as string | undefined;
      if (!raw) finish(new Error('the server presented no certificate'));
      else finish(undefined, raw.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, ''));
    });
    socket.once('error', (error) => finish(error));
  });
}

/**
 * Outcome of {@link verifyServed}: the `certificate:served` payload plus
 * what went wrong, for the error message.
 *
 * @example
 * ```ts
 * const check: ServedCheck | undefined = await verifyServed(server, certificate);
 * ```
 */
export interface ServedCheck extends CertificateServedEvent {
  /** Server name of the handshake that disagreed (`''`: none sent, the default context). */
  servername?: string;
  /** Why no handshake completed (`ok` is then false and `servedSerialNumber` absent). */
  failure?: Error;
}

/**
 * Checks that `server` presents `certificate` (compared by serial) to a
 * client asking for one of its names, and, with `checkDefault`, to a client
 * that sends no server name. Resolves to the outcome — `ok: false` with
 * `servedSerialNumber` on a mismatch, without it when no handshake
 * completed — or to `undefined` when the server is not listening (nothing
 * to check). Never rejects.
 *
 * @example
 * ```ts
 * const result = await verifyServed(server, manager.get('api')!, { checkDefault: true });
 * if (result && !result.ok) alert(`${result.address} still serves ${result.servedSerialNumber}`);
 * ```
 */
export async function verifyServed(
  server: net.Server,
  certificate: Pick<CertificateInfo, 'name' | 'domains' | 'serialNumber'>,
  options: VerifyServedOptions = {},
): Promise<ServedCheck | undefined> {
  const address = loopbackAddress(server);
  if (!address) return undefined;
  const base = { name: certificate.name, serialNumber: certificate.serialNumber, address: address.label };
  const servername = options.servername === undefined ? verifyServername(certificate) : options.servername || undefined;
  const probes = [...(servername ? [servername] : []), ...(options.checkDefault || !servername ? [''] : [])];
  for (const name of probes) {
    let served: string;
    try {
      served = await servedSerial(server, { servername: name, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    } catch (error) {
      return { ...base, ok: false, servername: name, failure: error as Error };
    }
    if (served !== certificate.serialNumber) return { ...base, ok: false, servedSerialNumber: served, servername: name };
  }
  return { ...base, ok: true, servedSerialNumber: certificate.serialNumber };
}

/**
 * Options of {@link ServedVerifier}.
 *
 * @example
 * ```ts
 * new ServedVerifier({ source: manager, onResult: (e) => metrics.served(e), onError: (e) => log.error(e) });
 * ```
 */
export interface ServedVerifierOptions {
  /** Where the expected (active) certificate of each name is read. */
  source: CertificateSource;
  /** Receives every outcome, as the `certificate:served` payload. @default none */
  onResult?: (event: CertificateServedEvent) => void;
  /** Receives a {@link CertificateError} `CERTIFICATE_CHECK_FAILED` for every `ok: false` outcome. */
  onError: (error: CertpilotError | Error) => void;
  /** Longest wait for one handshake. @default 5000 */
  timeoutMs?: number;
}

/** What {@link ServedVerifier.schedule} checks. */
export interface ScheduleOptions {
  /** Also check the server's default context (the attached name). @default false */
  checkDefault?: boolean;
  /** The certificates of the server's SNI table, default first, read when the check runs. @default none: no SNI table */
  served?: () => Parameters<typeof verifyServername>[1];
}

/**
 * Runs {@link verifyServed} for one server after rotations, at most one
 * check per name at a time. Rotations that arrive during a check coalesce
 * into one more check of the then-active certificate. A check whose
 * certificate was superseded meanwhile reports only a match, never a
 * mismatch (the server may already serve the newer one, whose own check
 * follows): a burst of rotations never reads as an error, and the
 * certificate that stays is always judged.
 *
 * @example
 * ```ts
 * const verifier = new ServedVerifier({ source: manager, onError: report });
 * manager.on('certificate:rotated', (e) => verifier.schedule(server, e.name, { checkDefault: true }));
 * ```
 */
export class ServedVerifier {
  readonly #states = new Map<string, { again: boolean }>();

  constructor(private readonly options: ServedVerifierOptions) {}

  /** Checks soon (after the current rotation's other listeners ran) that `server` presents `name`'s active certificate. */
  schedule(server: net.Server, name: string, options: ScheduleOptions = {}): void {
    const running = this.#states.get(name);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.#states.set(name, state);
    void this.#loop(server, name, options, state).finally(() => this.#states.delete(name));
  }

  async #loop(server: net.Server, name: string, options: ScheduleOptions, state: { again: boolean }): Promise<void> {
    while (state.again) {
      state.again = false;
      // Let the rest of the rotation happen first (other listeners, SNI table rebuilds).
      await new Promise<void>((resolve) => setImmediate(resolve));
      const expected = this.options.source.get(name);
      if (!expected) return;
      const servername = verifyServername(expected, options.served?.());
      // Neither a name that routes to it nor the default: this server cannot present it.
      if (!servername && !options.checkDefault) return;
      const run = () => verifyServed(server, expected, {
        servername: servername ?? false,
        checkDefault: options.checkDefault ?? false,
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
      });
      const superseded = () => state.again || this.options.source.get(name) !== expected;
      let check = await run();
      // Confirm a failure before calling it one: a handshake can fail transiently, and in a cluster
      // worker the probe goes through the shared port and may reach a sibling still applying the rotation.
      for (const delayMs of CONFIRM_DELAYS_MS) {
        if (!check || check.ok || superseded()) break;
        await new Promise<void>((resolve) => setTimeout(resolve, delayMs).unref());
        check = await run();
      }
      // Stopped listening (closed during the check): nothing is served, nothing to report.
      if (!check || !server.listening) return;
      // A newer certificate arrived during the check: a mismatch may just be that one (its own check
      // follows), but a match is still a fact worth reporting.
      if (!check.ok && superseded()) continue;
      this.#deliver(check);
    }
  }

  #deliver(check: ServedCheck): void {
    const { servername, failure, ...event } = check;
    try {
      this.options.onResult?.(event);
    } catch (error) {
      // A throwing result listener must not hide the mismatch below, nor escape into a timer.
      this.options.onError(error as Error);
    }
    if (check.ok) return;
    const asked = servername ? `server name ${servername}` : 'no server name';
    const message = failure
      ? `Could not check which certificate ${event.address} serves for "${event.name}" (${asked}): ${failure.message}`
      : `${event.address} serves serial ${event.servedSerialNumber} for "${event.name}" (${asked}) instead of the active ` +
        `${event.serialNumber}: something replaced the server's TLS context or SNICallback outside certpilot`;
    this.options.onError(
      new CertificateError('CERTIFICATE_CHECK_FAILED', message, {
        ...(failure ? { cause: failure } : {}),
        details: {
          name: event.name, serialNumber: event.serialNumber, address: event.address, servername: servername ?? '',
          ...(event.servedSerialNumber ? { servedSerialNumber: event.servedSerialNumber } : {}),
        },
      }),
    );
  }
}
