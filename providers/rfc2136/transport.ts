/**
 * One request/response exchange with a DNS server over UDP or TCP, bounded
 * by a timeout and an abort signal. Which response belongs to the request is
 * the caller's call (`accept`); everything else is ignored, so a stray or
 * spoofed datagram cannot end the exchange.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { AbortError, ConfigError, DnsError } from '../../src/errors.js';

/** Where the server listens. */
export interface Endpoint {
  host: string;
  port: number;
}

/** How the update travels. */
export type Protocol = 'udp' | 'tcp';

/** Options of {@link exchange}. */
export interface ExchangeOptions {
  /** Bound on the exchange, connection and retransmissions included. */
  timeoutMs: number;
  signal: AbortSignal;
  /** True for the message that answers our request (ID and flags match); others are ignored. */
  accept(message: Buffer): boolean;
}

/**
 * Parses `host`, `host:port`, `[v6]:port` or a bare IPv6 address; the port
 * defaults to 53.
 */
export function parseServer(server: string): Endpoint {
  const text = typeof server === 'string' ? server.trim() : '';
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : net.isIPv6(text)
      ? [text, undefined]
      : (() => {
          const at = text.lastIndexOf(':');
          return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
        })();
  const number = port === undefined ? 53 : Number(port);
  if (!host || /[\s/]/.test(host) || !Number.isInteger(number) || number < 1 || number > 65535 || (port !== undefined && !/^\d+$/.test(port))) {
    throw new ConfigError('INVALID_OPTIONS', `rfc2136: server ${JSON.stringify(server)} is not a valid 'host:port' (e.g. '127.0.0.1:53', '[::1]:53', 'ns1.example.com')`);
  }
  return { host, port: number };
}

/** `host:port` for messages, brackets around IPv6. */
export function describeEndpoint({ host, port }: Endpoint): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Sends `message` and resolves to the accepted answer; rejects with a retryable {@link DnsError} on timeout or network failure, {@link AbortError} on abort. */
export async function exchange(protocol: Protocol, endpoint: Endpoint, message: Buffer, options: ExchangeOptions): Promise<Buffer> {
  if (options.signal.aborted) throw aborted(options.signal);
  if (protocol === 'tcp') return bounded(protocol, endpoint, options, (finish) => tcp(endpoint, message, options, finish));
  // A UDP socket's family is fixed at creation, so resolve a host name first (honours /etc/hosts).
  const address = net.isIP(endpoint.host) ? endpoint.host : await resolve(endpoint, options.signal);
  if (options.signal.aborted) throw aborted(options.signal);
  return bounded(protocol, endpoint, options, (finish) => udp({ host: address, port: endpoint.port }, message, options, finish));
}

type Finish = (error: Error | undefined, answer?: Buffer) => void;

/** Runs `start` until it calls `finish`, the timeout fires, or the signal aborts; cleans up exactly once. */
function bounded(protocol: Protocol, endpoint: Endpoint, options: ExchangeOptions, start: (finish: Finish) => () => void): Promise<Buffer> {
  const where = `${describeEndpoint(endpoint)} over ${protocol}`;
  return new Promise<Buffer>((resolvePromise, reject) => {
    let settled = false;
    let cleanup = () => {};
    const onAbort = () => finish(aborted(options.signal));
    const timer = setTimeout(() => {
      finish(new DnsError('DNS_PROVIDER_ERROR', `rfc2136: no answer from ${where} within ${options.timeoutMs} ms`, {
        retryable: true,
        details: { provider: 'rfc2136', server: describeEndpoint(endpoint), reason: 'timeout' },
      }));
    }, options.timeoutMs);
    function finish(error: Error | undefined, answer?: Buffer): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      cleanup();
      if (error) reject(error);
      else resolvePromise(answer!);
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    const stop = start((error, answer) => {
      if (error && !(error instanceof DnsError)) {
        const code = (error as NodeJS.ErrnoException).code ?? error.message;
        error = new DnsError('DNS_PROVIDER_ERROR', `rfc2136: could not reach ${where}: ${code}`, {
          retryable: true,
          details: { provider: 'rfc2136', server: describeEndpoint(endpoint), reason: 'network', code },
        });
      }
      finish(error, answer);
    });
    if (settled) stop();
    else cleanup = stop;
  });
}

function udp(endpoint: Endpoint, message: Buffer, options: ExchangeOptions, finish: Finish): () => void {
  const socket = dgram.createSocket(net.isIPv6(endpoint.host) ? 'udp6' : 'udp4');
  let retransmit: NodeJS.Timeout | undefined;
  socket.on('error', (error) => finish(error));
  socket.on('message', (answer) => {
    if (options.accept(answer)) finish(undefined, answer);
  });
  // connect() makes the kernel drop datagrams from any other address and report ICMP "port unreachable" as ECONNREFUSED.
  socket.connect(endpoint.port, endpoint.host, () => {
    // UDP loses datagrams: resend after 1 s, 2 s, 4 s… Resending is safe because adding a present
    // RR and deleting an absent one are both no-ops in DNS UPDATE (RFC 2136 §3.4.2).
    let wait = 1000;
    const send = () => {
      socket.send(message, (error) => { if (error) finish(error); });
      retransmit = setTimeout(send, wait);
      wait *= 2;
    };
    send();
  });
  return () => {
    clearTimeout(retransmit);
    socket.close();
  };
}

function tcp(endpoint: Endpoint, message: Buffer, options: ExchangeOptions, finish: Finish): () => void {
  const socket = net.connect({ host: endpoint.host, port: endpoint.port });
  let buffered = Buffer.alloc(0);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length, 0);
  socket.setNoDelay(true);
  socket.write(Buffer.concat([length, message]));
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    // Each message is preceded by its 2-byte length (RFC 1035 §4.2.2).
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const answer = Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      buffered = buffered.subarray(2 + answer.length);
      if (options.accept(answer)) return finish(undefined, answer);
    }
  });
  socket.on('error', (error) => finish(error));
  socket.on('close', () => {
    finish(new DnsError('DNS_PROVIDER_ERROR', `rfc2136: ${describeEndpoint(endpoint)} closed the TCP connection without answering`, {
      retryable: true,
      details: { provider: 'rfc2136', server: describeEndpoint(endpoint), reason: 'closed' },
    }));
  });
  return () => socket.destroy();
}

async function resolve(endpoint: Endpoint, signal: AbortSignal): Promise<string> {
  try {
    return (await lookup(endpoint.host)).address;
  } catch (error) {
    if (signal.aborted) throw aborted(signal);
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new DnsError('DNS_PROVIDER_ERROR', `rfc2136: could not resolve server ${endpoint.host}: ${code}`, {
      retryable: true,
      details: { provider: 'rfc2136', server: describeEndpoint(endpoint), reason: 'network', code },
    });
  }
}

function aborted(signal: AbortSignal): AbortError {
  return new AbortError('rfc2136: the DNS update was aborted', { cause: signal.reason });
}
