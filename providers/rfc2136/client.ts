/**
 * An RFC 2136 UPDATE client: encode, sign (TSIG), send, verify, interpret.
 * It knows nothing about ACME or TXT semantics — the provider builds the
 * records — so tests can also send an UPDATE the key must be refused (an A
 * record) through the same path.
 */
import { randomInt } from 'node:crypto';
import { AbortError, DnsError } from '../../src/errors.js';
import { MAX_UDP_MESSAGE, RRType, WireFormatError, decodeMessage, encodeUpdate, type DecodedMessage, type ResourceRecord } from './message.js';
import { answerError } from './rcode.js';
import { DEFAULT_FUDGE, signRequest, verifyResponse, type TsigKey } from './tsig.js';
import { describeEndpoint, exchange, type Endpoint, type Protocol } from './transport.js';

/** Options of {@link UpdateClient}. */
export interface UpdateClientOptions {
  server: Endpoint;
  key: TsigKey;
  /** UDP falls back to TCP for messages over 512 bytes and truncated answers. */
  protocol: Protocol;
  /** Bound on each exchange with the server. */
  timeoutMs: number;
  /** Seconds since the epoch. Tests move it to provoke BADTIME. @default the system clock */
  now?: () => number;
}

/**
 * Sends signed UPDATE messages to one server.
 *
 * @example
 * ```ts
 * const client = new UpdateClient({ server: { host: '127.0.0.1', port: 53 }, key: createTsigKey({ name, secret }), protocol: 'tcp', timeoutMs: 10_000 });
 * await client.update('example.com.', [{ name: '_acme-challenge.example.com.', type: RRType.TXT, class: RRClass.IN, ttl: 60, rdata: encodeTxt('v') }], signal);
 * ```
 */
export class UpdateClient {
  readonly #options: UpdateClientOptions;

  constructor(options: UpdateClientOptions) {
    this.#options = options;
  }

  /** Applies `updates` to `zone` in one UPDATE message (atomically, as the server applies a message). */
  async update(zone: string, updates: readonly ResourceRecord[], signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new AbortError('rfc2136: the DNS update was aborted', { cause: signal.reason });
    const { key, server, timeoutMs } = this.#options;
    const now = this.#options.now ?? (() => Math.floor(Date.now() / 1000));
    const id = randomInt(0, 0x10000);
    let request: Buffer;
    try {
      request = encodeUpdate(id, zone, updates);
    } catch (error) {
      if (!(error instanceof WireFormatError)) throw error;
      throw new DnsError('DNS_PROVIDER_ERROR', `rfc2136: cannot encode the update of zone ${zone}: ${error.message}`, { details: { provider: 'rfc2136', zone } });
    }
    const { message, mac } = signRequest(request, key, now(), DEFAULT_FUDGE);
    if (message.length > 0xffff) {
      throw new DnsError('DNS_PROVIDER_ERROR', `rfc2136: the update of zone ${zone} is ${message.length} bytes, more than a DNS message can hold: send fewer records per call`, { details: { provider: 'rfc2136', zone } });
    }
    // An answer is ours when it is a response with our ID; the TSIG check below decides whether to trust it.
    const accept = (bytes: Buffer) => bytes.length >= 12 && bytes.readUInt16BE(0) === id && (bytes[2]! & 0x80) !== 0;
    // Like nsupdate: UDP only when the message fits a classic 512-byte datagram.
    let protocol: Protocol = this.#options.protocol === 'udp' && message.length <= MAX_UDP_MESSAGE ? 'udp' : 'tcp';
    let answer = await exchange(protocol, server, message, { timeoutMs, signal, accept });
    let decoded = decode(answer, server);
    if (decoded.tc && protocol === 'udp') {
      protocol = 'tcp';
      answer = await exchange(protocol, server, message, { timeoutMs, signal, accept });
      decoded = decode(answer, server);
    }
    const verdict = verifyResponse(answer, decoded, mac, key, now());
    const error = answerError(verdict, decoded.rcode, {
      server: describeEndpoint(server),
      zone,
      keyName: key.name,
      algorithm: key.algorithm,
      changes: describeChanges(updates),
      now: now(),
      fudge: DEFAULT_FUDGE,
    });
    if (error) throw error;
  }
}

function decode(answer: Buffer, server: Endpoint): DecodedMessage {
  try {
    return decodeMessage(answer);
  } catch (error) {
    throw new DnsError('DNS_PROVIDER_ERROR', `rfc2136: the answer from ${describeEndpoint(server)} is not a valid DNS message: ${(error as Error).message}`, {
      retryable: true,
      details: { provider: 'rfc2136', server: describeEndpoint(server), reason: 'malformed' },
    });
  }
}

const TYPE_NAMES = new Map<number, string>(Object.entries(RRType).map(([name, value]) => [value, name]));

/** `TXT at a.example.com., b.example.com.` per type, for messages. */
function describeChanges(updates: readonly ResourceRecord[]): string[] {
  const byType = new Map<string, Set<string>>();
  for (const { type, name } of updates) {
    const label = TYPE_NAMES.get(type) ?? `TYPE${type}`;
    byType.set(label, (byType.get(label) ?? new Set()).add(name.endsWith('.') ? name : `${name}.`));
  }
  return [...byType].map(([type, names]) => `${type} records at ${[...names].join(', ')}`);
}
