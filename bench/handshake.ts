/**
 * Handshake benchmark (not a test): `npx tsx bench/handshake.ts [--n 50] [--rounds 400] [--rotations 40] [--no-write]`.
 *
 * 1. Server CPU per TLS handshake: a static-context `tls.Server` against the
 *    manager's SNI path (`tlsOptions` + `attach`), same ECDSA P-256
 *    certificate, full TLS 1.3 handshakes (no resumption) over 127.0.0.1.
 *    Two bare-callback variants show where the difference comes from. The
 *    servers run in a child process so that `process.cpuUsage()` counts
 *    server work only; many short rounds (50 handshakes per variant, order
 *    rotated each round) keep each comparison within ~0.3 s, so drift
 *    (thermal, other load) hits all variants alike, and each variant is compared
 *    with the static server of the same round (median of those ratios).
 * 2. Time from a stored certificate to the first handshake that presents it:
 *    the server rotates (LocalIssuer, MemoryStore) while a client handshakes
 *    back to back; measured from the moment the store's `current` pointer
 *    moved to the first handshake completing with the new serial.
 *
 * Writes its section of docs/benchmarks.md between the handshake markers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SERVERNAME = 'api.bench.test';
const now = () => performance.timeOrigin + performance.now(); // wall clock in ms, sub-ms precision, shared by both processes

type Request = { id: number; cmd: 'cpu-start' | 'cpu-stop' | 'rotate' | 'sni-micro' };
type Reply = { id: number; cpuUs?: number; storedAt?: number; activatedAt?: number; serialNumber?: string; nsPerCall?: number };
/** Server variants, cheapest first: where the SNI path's extra cost comes from. */
const VARIANTS = ['static', 'callback-default', 'callback-context', 'sni'] as const;
type Variant = (typeof VARIANTS)[number];
interface Hello { ca: string; ports: Record<Variant, number>; serialNumber: string }

// ---------------------------------------------------------------- server process
async function server(): Promise<void> {
  const { LocalIssuer } = await import('../src/local/issuer.js');
  const { CertificateManager } = await import('../src/manager.js');
  const { MemoryStore } = await import('../src/storage/memory.js');
  // Timestamps the moment the repository moves `current`: "stored" for the latency figure.
  let storedAt = 0;
  class TimedStore extends MemoryStore {
    override async setPointer(key: string, target: string): Promise<void> {
      await super.setPointer(key, target);
      storedAt = now();
    }
  }
  const store = new TimedStore();
  const issuer = new LocalIssuer({ name: 'bench CA' });
  const manager = new CertificateManager({ store, issuer });
  const first = await manager.provision({ name: 'api', domains: [SERVERNAME] });
  let activatedAt = 0;
  manager.on('certificate:rotated', () => { activatedAt = now(); });

  const listen = (s: tls.Server) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
  const onSocket = (socket: tls.TLSSocket) => { socket.on('error', () => undefined); socket.end(); };
  const pair = { cert: first.fullchain, key: first.key };
  const context = tls.createSecureContext(pair);
  const options = manager.tlsOptions('api');
  const servers: Record<Variant, tls.Server> = {
    static: tls.createServer(pair, onSocket),
    // Node's certificate-callback round trip alone: the callback answers "no context", the default serves.
    'callback-default': tls.createServer({ ...pair, SNICallback: (_name, cb) => cb(null) }, onSocket),
    // Plus switching the connection to another (prebuilt) context of the same certificate.
    'callback-context': tls.createServer({ ...pair, SNICallback: (_name, cb) => cb(null, context) }, onSocket),
    sni: tls.createServer(options, onSocket),
  };
  manager.attach(servers.sni, 'api');
  const ports = {} as Record<Variant, number>;
  for (const variant of VARIANTS) {
    servers[variant].on('tlsClientError', () => undefined);
    ports[variant] = await listen(servers[variant]);
  }
  const hello: Hello = { ca: await issuer.rootCertificate(store), ports, serialNumber: first.serialNumber };
  process.send!(hello);

  let mark = process.cpuUsage();
  process.on('message', async (request: Request) => {
    const reply: Reply = { id: request.id };
    if (request.cmd === 'cpu-start') mark = process.cpuUsage();
    else if (request.cmd === 'cpu-stop') {
      const d = process.cpuUsage(mark);
      reply.cpuUs = d.user + d.system;
    } else if (request.cmd === 'sni-micro') {
      // The SNI path's own work, without the handshake around it: what the callback adds per handshake.
      const calls = 1_000_000;
      let sink = 0;
      const done = (_: Error | null, context?: tls.SecureContext) => { if (context) sink++; };
      for (let i = 0; i < 10_000; i++) options.SNICallback(SERVERNAME, done);
      const started = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) options.SNICallback(SERVERNAME, done);
      reply.nsPerCall = Number(process.hrtime.bigint() - started) / calls;
      if (sink === 0) throw new Error('no context');
    } else {
      const next = await manager.rotate('api');
      Object.assign(reply, { storedAt, activatedAt, serialNumber: next.serialNumber });
    }
    process.send!(reply);
  });
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------- client (this process)
class Server {
  #next = 1;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply) => { this.#waiting.get(m.id)?.(m); this.#waiting.delete(m.id); });
  }
  call(cmd: Request['cmd']): Promise<Reply> {
    const id = this.#next++;
    return new Promise((resolve) => { this.#waiting.set(id, resolve); this.child.send({ id, cmd }); });
  }
}

/** One full handshake, verified against `ca`; resolves with the served serial and when it completed. */
function handshake(port: number, ca: string | undefined): Promise<{ serialNumber: string; at: number }> {
  return new Promise((resolve, reject) => {
    // Without `ca` the client skips chain verification: the client shares the machine with the server being measured.
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVERNAME, ...(ca ? { ca } : { rejectUnauthorized: false }) });
    socket.once('secureConnect', () => {
      const at = now();
      const serialNumber = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
      socket.destroy();
      resolve({ serialNumber, at });
    });
    socket.once('error', reject);
  });
}

async function handshakes(port: number, ca: string | undefined, n: number, concurrency: number): Promise<void> {
  let left = n;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) await handshake(port, ca);
  }));
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const quantile = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!; };
const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '50' }, rounds: { type: 'string', default: '400' }, rotations: { type: 'string', default: '40' }, 'no-write': { type: 'boolean', default: false } } });
  const n = Number(values.n);
  const rounds = Number(values.rounds);
  const rotations = Number(values.rotations);
  const concurrency = 4;
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const hello = await new Promise<Hello>((resolve) => child.once('message', (m: Hello) => resolve(m)));
  const server = new Server(child);
  try {
    // --- 1. CPU per handshake: short rounds, order rotated each round, after a warm-up of each.
    // Warm-up with verification: proves both servers present a chain the root accepts for the name.
    for (const variant of VARIANTS) await handshakes(hello.ports[variant], hello.ca, 300, concurrency);
    const perHandshake = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const measure = async (port: number) => {
      await server.call('cpu-start');
      const started = performance.now();
      await handshakes(port, undefined, n, concurrency);
      const wallMs = performance.now() - started;
      const { cpuUs } = await server.call('cpu-stop');
      return { us: cpuUs! / n, rate: n / (wallMs / 1000) };
    };
    let rate = 0;
    for (let r = 0; r < rounds; r++) {
      // Rotate the order, so no variant always runs first (or last) in a round.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
      for (const kind of order) {
        const result = await measure(hello.ports[kind]);
        perHandshake[kind].push(result.us);
        rate = Math.max(rate, result.rate);
        if ((r + 1) % 50 === 0) console.log(`round ${r + 1} ${kind}: ${f1(result.us)} µs server CPU per handshake, ${Math.round(result.rate)} handshakes/s`);
      }
    }
    const staticUs = median(perHandshake.static);
    const sniUs = median(perHandshake.sni);
    // Paired by round (measured back to back), so load that changes between rounds mostly cancels out.
    const pairedRatios = (v: Variant) => perHandshake[v].map((x, i) => x / perHandshake.static[i]!);
    const ratios = pairedRatios('sni');
    const breakdown = VARIANTS.map((v) => ({ variant: v, us: median(perHandshake[v]), ratio: median(pairedRatios(v)) }));
    const { nsPerCall } = await server.call('sni-micro');

    // --- 2. Stored → first handshake presenting it.
    let stop = false;
    const seen: { serialNumber: string; at: number }[] = [];
    const loop = (async () => { while (!stop) seen.push(await handshake(hello.ports.sni, hello.ca)); })();
    const rotated: Reply[] = [];
    for (let i = 0; i < rotations; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rotated.push(await server.call('rotate'));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop = true;
    await loop;
    const toHandshake: number[] = [];
    const toActive: number[] = [];
    for (const r of rotated) {
      const firstSeen = seen.find((s) => s.serialNumber === r.serialNumber);
      if (firstSeen) toHandshake.push(firstSeen.at - r.storedAt!);
      toActive.push(r.activatedAt! - r.storedAt!);
    }
    const gapMs = median(seen.slice(1).map((s, i) => s.at - seen[i]!.at));

    const result = { n, rounds, concurrency, staticUs, sniUs, ratio: median(ratios), ratios, rate, toHandshake, toActive, gapMs, rotations, nsPerCall: nsPerCall!, load: os.loadavg()[0]!, breakdown };
    console.log(JSON.stringify({ ...result, toHandshake: undefined }, null, 1));
    console.log(`static ${f1(staticUs)} µs, SNI path ${f1(sniUs)} µs, paired ratio median ${median(ratios).toFixed(3)}, SNICallback ${f1(nsPerCall!)} ns/call; stored → first handshake median ${f1(median(toHandshake))} ms, p95 ${f1(quantile(toHandshake, 0.95))} ms`);
    if (!values['no-write']) await writeSection(render(result));
  } finally {
    child.kill();
  }
}

// ---------------------------------------------------------------- report
const START = '<!-- handshake:start -->';
const END = '<!-- handshake:end -->';
const FILE = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const LABELS: Record<Variant, string> = {
  static: 'static context: `tls.createServer({ cert, key })`',
  'callback-default': 'same + an `SNICallback` answering "no context" (Node\'s certificate-callback round trip only)',
  'callback-context': 'same + an `SNICallback` handing a prebuilt context (round trip + context switch)',
  sni: '**manager SNI path**: `tlsOptions` + `attach` (SNICallback → SNI index → cached context)',
};

function render(r: { n: number; rounds: number; concurrency: number; staticUs: number; sniUs: number; ratio: number; ratios: number[]; rate: number; toHandshake: number[]; toActive: number[]; gapMs: number; rotations: number; nsPerCall: number; load: number; breakdown: { variant: Variant; us: number; ratio: number }[] }): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const pct = (x: number) => `${x >= 1 ? '+' : ''}${((x - 1) * 100).toFixed(1)} %`;
  return [
    `_Generated by \`npx tsx bench/handshake.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (${cpu}, ${os.availableParallelism()} cores, Node ${process.version}). The next run replaces everything between the handshake markers: do not edit it by hand._`,
    '',
    `Full TLS 1.3 handshakes (ECDSA P-256 leaf + intermediate from \`LocalIssuer\`, no resumption) from ${r.concurrency} concurrent connections in a client process to servers in another process on 127.0.0.1. Server CPU is \`process.cpuUsage()\` (user + system) of the server process over ${r.n.toLocaleString('en')} handshakes per round, ${r.rounds} rounds with the order of the variants rotated each round; the table shows the median round and the median of the per-round ratios to the static server.`,
    '',
    '| server | CPU per handshake (µs, median round) | vs static (median of paired rounds) |',
    '|---|---:|---:|',
    ...r.breakdown.map((b) => `| ${LABELS[b.variant]} | ${f1(b.us)} | ${b.variant === 'static' ? '—' : pct(b.ratio)} |`),
    '',
    `SNI path vs static, per round: median ${r.ratio.toFixed(3)}, interquartile range ${quantile(r.ratios, 0.25).toFixed(3)}–${quantile(r.ratios, 0.75).toFixed(3)} over ${r.rounds} rounds — target ≤ 1.05, **${r.ratio <= 1.05 ? 'met' : 'missed'}**. Peak ${Math.round(r.rate).toLocaleString('en')} handshakes/s; 1-minute load ${r.load.toFixed(1)} at the end (a 2-core VM shared with other work: single rounds vary by ±10 %, hence many short paired rounds).`,
    '',
    `Where the difference comes from: the two bare-callback rows are Node's own cost of serving through an \`SNICallback\` at all — the certificate-callback round trip into JavaScript (${pct(r.breakdown[1]!.ratio)}) and switching the connection to the context handed back (${pct(r.breakdown[2]!.ratio)} in total). The manager's own work on top, timed in isolation, is **${f1(r.nsPerCall)} ns per \`SNICallback\` call** (SNI index lookup, LRU touch, callback), ${(r.nsPerCall / 10 / r.staticUs).toFixed(2)} % of a handshake. Contexts are built once per certificate version, never per handshake.`,
    '',
    `Stored → served: ${r.rotations} rotations (\`manager.rotate\`, LocalIssuer, MemoryStore) while one client handshakes back to back with the SNI server (median ${f1(r.gapMs)} ms between handshakes, which bounds the resolution).`,
    '',
    '| interval | median (ms) | p95 (ms) | max (ms) |',
    '|---|---:|---:|---:|',
    `| \`current\` pointer moved → \`certificate:rotated\` (context swapped) | ${f1(median(r.toActive))} | ${f1(quantile(r.toActive, 0.95))} | ${f1(Math.max(...r.toActive))} |`,
    `| \`current\` pointer moved → first handshake presenting the new serial | ${f1(median(r.toHandshake))} | ${f1(quantile(r.toHandshake, 0.95))} | ${f1(Math.max(...r.toHandshake))} |`,
    '',
    `First handshakes with the new serial observed for ${r.toHandshake.length}/${r.rotations} rotations (a rotation can be skipped when the next one lands before the client's next handshake).`,
  ].join('\n');
}

/** Replaces the handshake section of docs/benchmarks.md, creating the file or the section when missing; other sections stay as they are. */
async function writeSection(body: string): Promise<void> {
  const section = `${START}\n${body}\n${END}`;
  const current = existsSync(FILE) ? await readFile(FILE, 'utf8') : '';
  let next: string;
  if (current.includes(START) && current.includes(END)) {
    next = current.slice(0, current.indexOf(START)) + section + current.slice(current.indexOf(END) + END.length);
  } else if (current) {
    next = `${current.trimEnd()}\n\n## TLS handshakes and rotation\n\n${section}\n`;
  } else {
    next = ['# Benchmarks', '', 'Measurements, not tests: scripts in `bench/` produce them and nothing asserts on them. Each section is written by its own benchmark and regenerated on its own, between its markers.', '', '## TLS handshakes and rotation', '', section, ''].join('\n');
  }
  await writeFile(FILE, next);
  console.log(`wrote the handshake section of ${FILE}`);
}

if (process.argv.includes('--server')) await server();
else await main();
