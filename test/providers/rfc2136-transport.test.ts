/**
 * The rfc2136 client against scripted DNS servers on 127.0.0.1: what a real
 * BIND never does on cue — lose datagrams, answer unsigned or forged, send a
 * spoofed datagram first, truncate, hang, split TCP frames.
 */
import { createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpdateClient } from '../../providers/rfc2136/client.js';
import { RRClass, RRType, decodeMessage, encodeName, encodeRecord, encodeTxt, type ResourceRecord } from '../../providers/rfc2136/message.js';
import { createTsigKey, decodeTsigRdata, type TsigKey } from '../../providers/rfc2136/tsig.js';
import type { Protocol } from '../../providers/rfc2136/transport.js';
import type { CertpilotError } from '../../src/errors.js';
import { freePort } from '../helpers/ports.js';

const SECRET = 'dGVzdC1rZXktZm9yLXRoZS1zY3JpcHRlZC1zZXJ2ZXJz';
const key: TsigKey = createTsigKey({ name: 'scripted', secret: SECRET });
const txt = (value: string, name = '_acme-challenge.example.test.'): ResourceRecord => ({ name, type: RRType.TXT, class: RRClass.IN, ttl: 60, rdata: encodeTxt(value) });
const failure = (promise: Promise<unknown>) => promise.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as CertpilotError);

interface AnswerOptions { rcode?: number; tc?: boolean; sign?: boolean; id?: number }

/** The answer a server holding `key` gives to `request` (RFC 8945 §4.3.2: the MAC covers the request MAC). */
function answer(request: Buffer, { rcode = 0, tc = false, sign = true, id }: AnswerOptions = {}): Buffer {
  const decoded = decodeMessage(request);
  const tsig = decoded.additional.at(-1)!;
  const requestMac = decodeTsigRdata(tsig.rdata)!.mac;
  const zoneEnd = decoded.prerequisites[0]?.offset ?? decoded.updates[0]?.offset ?? tsig.offset;
  const message = Buffer.from(request.subarray(0, zoneEnd)); // header + zone section, echoed as servers do
  message.writeUInt16BE(0x8000 | (5 << 11) | (tc ? 0x0200 : 0) | rcode, 2);
  message.writeUInt16BE(0, 6);
  message.writeUInt16BE(0, 8);
  message.writeUInt16BE(0, 10);
  if (!sign) return withId(message, id);
  const time = Buffer.alloc(8);
  time.writeUIntBE(Math.floor(Date.now() / 1000), 0, 6);
  time.writeUInt16BE(300, 6);
  const variables = Buffer.concat([encodeName(key.name), Buffer.from('00ff00000000', 'hex'), encodeName('hmac-sha256.'), time, Buffer.from('00000000', 'hex')]);
  const length = Buffer.from([0, requestMac.length]);
  const mac = createHmac('sha256', Buffer.from(SECRET, 'base64')).update(Buffer.concat([length, requestMac, message, variables])).digest();
  const macSize = Buffer.from([0, mac.length]);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(message.readUInt16BE(0), 0);
  const rdata = Buffer.concat([encodeName('hmac-sha256.'), time, macSize, mac, tail]);
  const signed = Buffer.concat([message, encodeRecord({ name: key.name, type: RRType.TSIG, class: RRClass.ANY, ttl: 0, rdata })]);
  signed.writeUInt16BE(1, 10);
  return withId(signed, id);
}

function withId(message: Buffer, id: number | undefined): Buffer {
  if (id !== undefined) message.writeUInt16BE(id, 0);
  return message;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => { await Promise.all(closers.splice(0).map((close) => close())); });

/** A UDP server on 127.0.0.1 that hands each datagram to `script`. */
async function udpServer(port: number, script: (request: Buffer, reply: (m: Buffer) => void) => void): Promise<{ received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (request, peer) => {
    received.push(request);
    script(request, (m) => socket.send(m, peer.port, peer.address));
  });
  await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return { received };
}

/** A TCP server on 127.0.0.1 that hands each framed request to `script`. */
async function tcpServer(port: number, script: (request: Buffer, socket: net.Socket) => void): Promise<{ received: Buffer[] }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const request = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      received.push(request);
      script(request, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
  return { received };
}

const framed = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);
const client = (port: number, protocol: Protocol, timeoutMs = 3000) =>
  new UpdateClient({ server: { host: '127.0.0.1', port }, key, protocol, timeoutMs });
const signal = () => new AbortController().signal;

describe('rfc2136 client against scripted servers', () => {
  it('ignores a spoofed datagram (wrong ID) and garbage, and takes the signed answer', async () => {
    const port = await freePort();
    await udpServer(port, (request, reply) => {
      reply(answer(request, { id: request.readUInt16BE(0) ^ 1 }));
      reply(Buffer.from('garbage'));
      reply(answer(request));
    });
    await expect(client(port, 'udp').update('example.test.', [txt('v')], signal())).resolves.toBeUndefined();
  });

  it('rejects an unsigned NOERROR: it could be forged', async () => {
    const port = await freePort();
    await tcpServer(port, (request, socket) => socket.write(framed(answer(request, { sign: false }))));
    const error = await failure(client(port, 'tcp').update('example.test.', [txt('v')], signal()));
    expect(error.message).toContain('(NOERROR) carries no TSIG MAC, so it cannot be trusted');
    expect(error.details).toMatchObject({ reason: 'unsigned' });
  });

  it('rejects an answer altered after signing', async () => {
    const port = await freePort();
    await tcpServer(port, (request, socket) => {
      const forged = answer(request, { rcode: 5 });
      forged[3] = forged[3]! & 0xf0; // REFUSED → NOERROR, MAC unchanged
      socket.write(framed(forged));
    });
    const error = await failure(client(port, 'tcp').update('example.test.', [txt('v')], signal()));
    expect(error.message).toContain('failed TSIG verification');
    expect(error.retryable).toBe(true);
  });

  it('maps a signed SERVFAIL to a retryable error', async () => {
    const port = await freePort();
    await tcpServer(port, (request, socket) => socket.write(framed(answer(request, { rcode: 2 }))));
    const error = await failure(client(port, 'tcp').update('example.test.', [txt('v')], signal()));
    expect(error.message).toContain('(SERVFAIL)');
    expect(error.retryable).toBe(true);
  });

  it('resends a lost UDP datagram', async () => {
    const port = await freePort();
    let seen = 0;
    const server = await udpServer(port, (request, reply) => { if (++seen === 2) reply(answer(request)); });
    await client(port, 'udp').update('example.test.', [txt('v')], signal());
    expect(server.received).toHaveLength(2);
    expect(server.received[1]).toEqual(server.received[0]);
  });

  it('times out with a retryable error when nothing answers', async () => {
    const port = await freePort();
    const server = await udpServer(port, () => {});
    const started = Date.now();
    const error = await failure(client(port, 'udp', 1500).update('example.test.', [txt('v')], signal()));
    expect(Date.now() - started).toBeLessThan(2500);
    expect(error.message).toBe(`rfc2136: no answer from 127.0.0.1:${port} over udp within 1500 ms`);
    expect(error.retryable).toBe(true);
    expect(error.details).toMatchObject({ reason: 'timeout' });
    expect(server.received.length).toBeGreaterThanOrEqual(2);
  });

  it('stops waiting with ABORTED when the signal fires', async () => {
    const port = await freePort();
    await tcpServer(port, () => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const error = await failure(client(port, 'tcp', 10_000).update('example.test.', [txt('v')], controller.signal));
    expect(error.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const port = await freePort();
    const udp = await udpServer(port, (request, reply) => reply(answer(request, { tc: true })));
    const tcp = await tcpServer(port, (request, socket) => socket.write(framed(answer(request))));
    await client(port, 'udp').update('example.test.', [txt('v')], signal());
    expect(udp.received).toHaveLength(1);
    expect(tcp.received).toEqual(udp.received);
  });

  it('sends messages over 512 bytes over TCP even in UDP mode', async () => {
    const port = await freePort();
    const udp = await udpServer(port, (request, reply) => reply(answer(request)));
    const tcp = await tcpServer(port, (request, socket) => socket.write(framed(answer(request))));
    await client(port, 'udp').update('example.test.', [txt('x'.repeat(600))], signal());
    expect(udp.received).toHaveLength(0);
    expect(tcp.received).toHaveLength(1);
  });

  it('reassembles a TCP answer that arrives byte by byte', async () => {
    const port = await freePort();
    await tcpServer(port, (request, socket) => {
      const bytes = framed(answer(request));
      let at = 0;
      const drip = () => { if (at < bytes.length) socket.write(bytes.subarray(at, ++at), () => setImmediate(drip)); };
      drip();
    });
    await expect(client(port, 'tcp').update('example.test.', [txt('v')], signal())).resolves.toBeUndefined();
  });

  it('reports a TCP connection closed without an answer as retryable', async () => {
    const port = await freePort();
    await tcpServer(port, (_request, socket) => socket.end());
    const error = await failure(client(port, 'tcp').update('example.test.', [txt('v')], signal()));
    expect(error.message).toBe(`rfc2136: 127.0.0.1:${port} closed the TCP connection without answering`);
    expect(error.retryable).toBe(true);
  });

  it('reports a refused TCP connection as retryable, naming the server', async () => {
    const port = await freePort();
    const error = await failure(client(port, 'tcp').update('example.test.', [txt('v')], signal()));
    expect(error.message).toBe(`rfc2136: could not reach 127.0.0.1:${port} over tcp: ECONNREFUSED`);
    expect(error.retryable).toBe(true);
  });

  it('fails fast when nothing listens on the UDP port (ICMP port unreachable)', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(client(port, 'udp', 5000).update('example.test.', [txt('v')], signal()));
    expect(error.message).toBe(`rfc2136: could not reach 127.0.0.1:${port} over udp: ECONNREFUSED`);
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
