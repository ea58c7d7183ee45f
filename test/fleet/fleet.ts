/**
 * Parent side of the fleet tests: starts worker processes (worker.ts under
 * `node --import tsx`), sends them commands, collects what they report, and
 * reads the certificate their HTTPS servers actually serve.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { Command, Message, WorkerConfig } from './protocol.js';

const script = fileURLToPath(new URL('./worker.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

type Reply = Extract<Message, { type: 'done' }>;
type CommandName = Command['cmd'];

/** Lower-case hex without leading zeros, however Node or certpilot spelled it. */
export function normalizeSerial(serial: string): string {
  return serial.replace(/:/g, '').toLowerCase().replace(/^0+(?=.)/, '');
}

/** One running worker process. */
export class Worker {
  /** Everything the worker reported, in order. */
  readonly messages: Message[] = [];
  readonly exited: Promise<NodeJS.Signals | number | null>;
  #next = 1;
  #output = '';
  readonly #waiters = new Set<() => void>();

  private constructor(readonly child: ChildProcess, readonly label: string) {
    child.stdout?.on('data', (chunk: Buffer) => { this.#output = (this.#output + chunk.toString()).slice(-10_000); });
    child.stderr?.on('data', (chunk: Buffer) => { this.#output = (this.#output + chunk.toString()).slice(-10_000); });
    child.on('message', (message: Message) => {
      this.messages.push(message);
      for (const wake of [...this.#waiters]) wake();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      resolve(signal ?? code);
      for (const wake of [...this.#waiters]) wake();
    }));
  }

  /** Starts a worker and waits until it is ready for commands. */
  static async start(config: WorkerConfig, label: string): Promise<Worker> {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, CERTPILOT_FLEET: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const worker = new Worker(child, label);
    await worker.waitFor((m) => m.type === 'ready', 30_000, 'start-up');
    return worker;
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** Sends a command; resolves with its reply, rejects with the worker's error. */
  async request(cmd: CommandName, timeoutMs = 60_000): Promise<Reply> {
    const id = this.#next++;
    this.child.send({ id, cmd } as Command);
    const reply = await this.waitFor((m) => (m.type === 'done' || m.type === 'failed') && m.id === id, timeoutMs, cmd);
    if (reply.type === 'failed') throw new Error(`${this.label}: ${cmd} failed: ${reply.code ?? ''} ${reply.message}`);
    return reply as Reply;
  }

  /** Resolves with the first message (already received or future) that matches. */
  waitFor(match: (m: Message) => boolean, timeoutMs: number, what: string): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(match);
        if (found) return done(() => resolve(found));
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done(() => reject(new Error(`${this.label} exited while waiting for ${what}\n${this.#output}${this.logs()}`)));
        }
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms\n${this.#output}${this.logs()}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Messages of one type. */
  of<T extends Message['type']>(type: T): Array<Extract<Message, { type: T }>> {
    return this.messages.filter((m): m is Extract<Message, { type: T }> => m.type === type);
  }

  /** SIGKILL: no clean-up, no lock release, exactly like a crash. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Asks the worker to close cleanly; kills it if it does not within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await Promise.race([this.request('close', 5000).catch(() => undefined), this.exited]);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  private logs(): string {
    return this.of('log').map((m) => `\n  log: ${m.message}`).join('');
  }
}

/** The serial (normalized) of the certificate a TLS server on `port` presents for `servername`. */
export function servedSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(normalizeSerial(serial));
    });
    socket.setTimeout(3000, () => socket.destroy(new Error(`TLS handshake with port ${port} timed out`)));
    socket.once('error', reject);
  });
}

/** Polls `port` until it serves `serial`; resolves to the time it first did (ms since the epoch). */
export async function whenServed(port: number, servername: string, serial: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const wanted = normalizeSerial(serial);
  for (;;) {
    const seen = await servedSerial(port, servername).catch(() => undefined);
    if (seen === wanted) return Date.now();
    if (Date.now() > deadline) throw new Error(`port ${port} still serves ${seen ?? 'nothing'} instead of ${wanted} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
