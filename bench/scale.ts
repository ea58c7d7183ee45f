/**
 * Scale benchmark: 10,000 managed certificates loaded from a FileStore and
 * scheduled by one manager. Measures, in a fresh child process (so nothing the
 * generator loaded is counted): cold start (`new CertificateManager` +
 * `sync()` + `monitor()`), resident memory after GC, and the CPU the idle loop
 * uses. Writes the figures into docs/benchmarks.md between the scale markers.
 *
 *   npx tsx bench/scale.ts [--count 10000] [--idle-seconds 30] [--profile] [--keep] [--no-write] [--tsx]
 *
 * --profile writes a CPU profile of the child to bench/.profiles; --tsx runs the child under tsx instead of
 * bundled to plain JavaScript.
 *
 * Certificates are generated fast: a few distinct leaves from a LocalIssuer,
 * each written under many names through CertificateRepository (the manager's
 * own store layout), so the store looks exactly like a fleet's.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DISTINCT = 16;
const TARGET_COLD_MS = 2000;
const TARGET_RSS_MB = 150;

interface Args { count: number; idleSeconds: number; profile: boolean; keep: boolean; write: boolean; tsx: boolean; child?: string }

function parseArgs(argv: string[]): Args {
  const args: Args = { count: 10_000, idleSeconds: 30, profile: false, keep: false, write: true, tsx: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--count') args.count = Number(argv[++i]);
    else if (a === '--idle-seconds') args.idleSeconds = Number(argv[++i]);
    else if (a === '--profile') args.profile = true;
    else if (a === '--keep') args.keep = true;
    else if (a === '--no-write') args.write = false;
    else if (a === '--tsx') args.tsx = true;
    else if (a === '--child') args.child = argv[++i];
  }
  return args;
}

/** What the child reports. */
interface ChildResult {
  count: number;
  loaded: number;
  importMs: number;
  constructMs: number;
  syncMs: number;
  monitorMs: number;
  coldStartMs: number;
  rssAfterStartMb: number;
  heapAfterStartMb: number;
  rssAfterIdleMb: number;
  heapAfterIdleMb: number;
  /** CPU (user + sys) in the first window after monitor(): includes the loop's first pass over every certificate. */
  firstWindowCpuMs: number;
  /** CPU over the next `checkIntervalMs` (one periodic pass of the loop and the rest between passes). */
  idleWindowCpuMs: number;
  idleSeconds: number;
  /** Longest event-loop stall in the first window (the first pass runs on the main thread). */
  maxLoopDelayMs: number;
  checkIntervalMs: number;
  /** Mean µs per certificate of each step of loading one from the store, measured one by one on a sample. */
  breakdownUs: Record<string, number>;
  /** Loading every certificate the way the breakdown suggests (see {@link whatIf}), ms. */
  whatIfLoadMs: number;
  /** The same with synchronous reads, ms. */
  whatIfSyncIoMs: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const cpuMs = (u: NodeJS.CpuUsage) => Math.round((u.user + u.system) / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The measured process: imports, builds the manager, loads and schedules, then sits idle. */
async function child(directory: string, args: Args): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  const t0 = performance.now();
  const { CertificateManager } = await import('../src/manager.js');
  const { FileStore } = await import('../src/storage/file.js');
  const importMs = performance.now() - t0;
  // An issuer that must never be called: nothing is due, so any call is a bug the benchmark should show.
  const issuer = {
    id: 'bench', keyType: 'ecdsa-p256' as const,
    issue: async () => { throw new Error('bench issuer called: nothing should be due'); },
    revoke: async () => { throw new Error('bench issuer called'); },
  };
  const checkIntervalMs = 60_000;
  const t1 = performance.now();
  const manager = new CertificateManager({ store: new FileStore({ directory }), issuer });
  const t2 = performance.now();
  await manager.sync();
  const t3 = performance.now();
  manager.monitor();
  const t4 = performance.now();
  manager.on('error', (e) => console.error(`[manager error] ${e.context}: ${e.error.message}`));
  gc(); gc();
  const afterStart = process.memoryUsage();

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const c0 = process.cpuUsage();
  await sleep(args.idleSeconds * 1000);
  const first = process.cpuUsage(c0);
  delay.disable();
  // One whole loop period: exactly one periodic pass falls inside it, so this is the loop's steady cost.
  const c1 = process.cpuUsage();
  await sleep(checkIntervalMs);
  const idle = process.cpuUsage(c1);
  gc(); gc();
  const afterIdle = process.memoryUsage();
  const loaded = manager.list().length;
  await manager.close();
  const breakdownUs = await breakdown(directory, Math.min(args.count, 1000));
  const whatIfLoadMs = await whatIf(directory);
  const whatIfSyncIoMs = await whatIfSync(directory);
  const result: ChildResult = {
    count: args.count, loaded,
    importMs: Math.round(importMs), constructMs: Math.round(t2 - t1), syncMs: Math.round(t3 - t2), monitorMs: Math.round(t4 - t3),
    coldStartMs: Math.round(t4 - t1),
    rssAfterStartMb: mb(afterStart.rss), heapAfterStartMb: mb(afterStart.heapUsed),
    rssAfterIdleMb: mb(afterIdle.rss), heapAfterIdleMb: mb(afterIdle.heapUsed),
    firstWindowCpuMs: cpuMs(first), idleWindowCpuMs: cpuMs(idle), idleSeconds: args.idleSeconds,
    maxLoopDelayMs: Math.round(delay.max / 1e6), checkIntervalMs, breakdownUs, whatIfLoadMs, whatIfSyncIoMs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * Where loading one certificate spends its time: each step of
 * `CertificateManager.sync()` → `CertificateRepository.load()` →
 * `buildCertificate()`, timed alone over `sample` names, one after another as sync() runs them.
 */
async function breakdown(directory: string, sample: number): Promise<Record<string, number>> {
  const { readFile: read, readlink } = await import('node:fs/promises');
  const { X509Certificate, createPublicKey } = await import('node:crypto');
  const { keyTypeOf, normalizePrivateKey } = await import('../src/x509/keys.js');
  const { splitCertificates } = await import('../src/x509/pem.js');
  const totals: Record<string, number> = {};
  const time = async <T>(step: string, fn: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const value = await fn();
    totals[step] = (totals[step] ?? 0) + performance.now() - t;
    return value;
  };
  for (let i = 0; i < sample; i++) {
    const base = path.join(directory, 'certificates', `cert-${String(i).padStart(5, '0')}`);
    // sync() reads the pointer twice (names(), then syncName()) and load() once more.
    const version = await time('readlink current (×1; sync does 3)', () => readlink(path.join(base, 'current')));
    const [fullchain = '', key = ''] = await time('read fullchain + key + meta (parallel)', () => Promise.all(
      ['fullchain.pem', 'key.pem', 'meta.json'].map((f) => read(path.join(base, version, f), 'utf8')),
    ));
    const leafPem = splitCertificates(fullchain)[0]!;
    const leaf = await time('new X509Certificate(leaf)', () => new X509Certificate(leafPem));
    await time('normalizePrivateKey(key): createPrivateKey + export PEM', () => normalizePrivateKey(key));
    await time('keyTypeOf(createPublicKey(leaf.publicKey.export()))', () => keyTypeOf(createPublicKey(leaf.publicKey.export({ type: 'spki', format: 'pem' }))));
    await time('keyTypeOf(leaf.publicKey) (no re-import)', () => keyTypeOf(leaf.publicKey));
  }
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round((v / Math.max(sample, 1)) * 1000)]));
}

/**
 * What loading could cost: every name read with 32 in flight (not one after
 * another), one pointer read per name, the leaf parsed once, the key type
 * taken from the leaf's public key, and the stored key (already normalised
 * when it was saved) kept as it is. Not the library's code: a measure of the
 * headroom, for the core to decide.
 */
async function whatIf(directory: string): Promise<number> {
  const { readFile: read, readlink, readdir } = await import('node:fs/promises');
  const { X509Certificate } = await import('node:crypto');
  const { keyTypeOf } = await import('../src/x509/keys.js');
  const { splitCertificates } = await import('../src/x509/pem.js');
  const t = performance.now();
  const names = await readdir(path.join(directory, 'certificates'));
  const held = new Map<string, unknown>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < names.length; i = next++) {
      const base = path.join(directory, 'certificates', names[i]!);
      const version = await readlink(path.join(base, 'current'));
      const [fullchain = '', key, meta = '{}'] = await Promise.all(['fullchain.pem', 'key.pem', 'meta.json'].map((f) => read(path.join(base, version, f), 'utf8')));
      const leaf = new X509Certificate(splitCertificates(fullchain)[0]!);
      held.set(names[i]!, { leaf: leaf.serialNumber, notAfter: leaf.validTo, keyType: keyTypeOf(leaf.publicKey), key, meta: JSON.parse(meta) as unknown });
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return Math.round(performance.now() - t);
}

/** {@link whatIf} with synchronous file reads: what is left when the thread-pool round trips go (a start-up-only option). */
async function whatIfSync(directory: string): Promise<number> {
  const { readFileSync, readlinkSync, readdirSync } = await import('node:fs');
  const { X509Certificate } = await import('node:crypto');
  const { keyTypeOf } = await import('../src/x509/keys.js');
  const { splitCertificates } = await import('../src/x509/pem.js');
  const t = performance.now();
  const held = new Map<string, unknown>();
  for (const name of readdirSync(path.join(directory, 'certificates'))) {
    const base = path.join(directory, 'certificates', name);
    const version = readlinkSync(path.join(base, 'current'));
    const [fullchain = '', key, meta = '{}'] = ['fullchain.pem', 'key.pem', 'meta.json'].map((f) => readFileSync(path.join(base, version, f), 'utf8'));
    const leaf = new X509Certificate(splitCertificates(fullchain)[0]!);
    held.set(name, { leaf: leaf.serialNumber, notAfter: leaf.validTo, keyType: keyTypeOf(leaf.publicKey), key, meta: JSON.parse(meta) as unknown });
  }
  return Math.round(performance.now() - t);
}

/** Writes `count` managed certificates into a FileStore at `directory`. */
async function generate(directory: string, count: number): Promise<number> {
  const { LocalIssuer } = await import('../src/local/issuer.js');
  const { MemoryStore } = await import('../src/storage/memory.js');
  const { FileStore } = await import('../src/storage/file.js');
  const { CertificateRepository } = await import('../src/storage/repository.js');
  const { buildCertificate } = await import('../src/x509/parse.js');
  const started = performance.now();
  const ca = new MemoryStore();
  const issuer = new LocalIssuer({ name: 'scale bench CA', leafLifetimeMs: 90 * 86_400_000 });
  const context = { store: ca, signal: new AbortController().signal, progress: () => undefined };
  const leaves: Array<{ domains: string[]; issued: { fullchain: string; key: string } }> = [];
  for (let i = 0; i < DISTINCT; i++) {
    const domains = [`site-${i}.bench.test`, `*.site-${i}.bench.test`];
    const issued = await issuer.issue({ name: `site-${i}`, domains, keyType: 'ecdsa-p256' }, context);
    leaves.push({ domains, issued });
  }
  // fsync off for the generator only: durability of a throw-away fixture does not matter, and 50,000 fsyncs would dominate.
  const repo = new CertificateRepository(new FileStore({ directory, fsync: false }), 1);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const { domains, issued } = leaves[i % DISTINCT]!;
      const name = `cert-${String(i).padStart(5, '0')}`;
      await repo.save(buildCertificate(name, domains, issued.fullchain, issued.key), issuer.id);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return Math.round(performance.now() - started);
}

/**
 * This file bundled to plain JavaScript (esbuild, which tsx itself runs on): the child then runs on plain
 * `node`, as a host runs the published package, without tsx's loader thread (about 40 MB of RSS) in the figures.
 */
async function bundle(outdir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = path.join(outdir, 'scale-child.mjs');
  await esbuild.build({
    entryPoints: [fileURLToPath(import.meta.url)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20',
    // Bundled CommonJS dependencies call require() for Node built-ins.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

function runChild(script: string, directory: string, args: Args, profileDir: string): Promise<ChildResult> {
  const nodeArgs = ['--expose-gc', ...(args.tsx ? ['--import', 'tsx'] : []), ...(args.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const childArgs = [script, '--child', directory, '--count', String(args.count), '--idle-seconds', String(args.idleSeconds)];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, ...childArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`child exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

function section(r: ChildResult, generateMs: number, commit: string): string {
  const ok = (value: number, target: number) => (value < target ? `${value} (target < ${target}: met)` : `**${value}** (target < ${target}: missed)`);
  const perCertUs = Math.round((r.syncMs / Math.max(r.count, 1)) * 1000);
  const b = r.breakdownUs;
  const step = (prefix: string) => Object.entries(b).find(([k]) => k.startsWith(prefix))?.[1] ?? 0;
  const keyNorm = step('normalizePrivateKey');
  const keyType = step('keyTypeOf(createPublicKey') - step('keyTypeOf(leaf.publicKey)');
  const n = r.count.toLocaleString('en-US');
  const load = loadavg().map((l) => l.toFixed(1)).join(', ');
  return `<!-- scale:start -->
_Generated by \`npx tsx bench/scale.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC from certpilot ${commit}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, load average ${load} when it finished (a shared machine: expect ±30 %). The next run replaces everything between the scale markers._

${n} managed certificates (ECDSA P-256 leaf + intermediate, 90-day lifetime, one version each) in a \`FileStore\`, written by \`CertificateRepository\` in ${(generateMs / 1000).toFixed(1)} s. Measured in a fresh child process (this script bundled by esbuild and run on plain \`node --expose-gc\`, as a host runs the package): \`new CertificateManager({ store: new FileStore(…), issuer })\` with an issuer that is never called, \`await manager.sync()\`, \`manager.monitor()\`, default loop settings (\`checkIntervalMs\` ${r.checkIntervalMs} ms, CRL checks on; these leaves name no CRL, so each costs one byte search).

| | value |
|---|---:|
| certificates held after \`sync()\` | ${r.loaded.toLocaleString('en-US')} |
| cold start: constructor + \`sync()\` + \`monitor()\` (ms) | ${ok(r.coldStartMs, TARGET_COLD_MS)} |
| of which \`sync()\` (ms; µs per certificate) | ${r.syncMs} (${perCertUs}) |
| importing the library (ms, not in cold start) | ${r.importMs} |
| RSS after start, after GC (MB) | ${ok(r.rssAfterStartMb, TARGET_RSS_MB)} |
| V8 heap used after start, after GC (MB) | ${r.heapAfterStartMb} |
| RSS after ${r.idleSeconds + r.checkIntervalMs / 1000} s of monitoring, after GC (MB) | ${r.rssAfterIdleMb} |
| CPU, first ${r.idleSeconds} s after \`monitor()\` (ms; the loop's first pass over every certificate) | ${r.firstWindowCpuMs} |
| longest event-loop stall in those ${r.idleSeconds} s (ms) | ${r.maxLoopDelayMs} |
| CPU over the next ${r.checkIntervalMs / 1000} s, one periodic pass included (ms; % of one core) | ${r.idleWindowCpuMs} (${(r.idleWindowCpuMs / (r.checkIntervalMs / 100)).toFixed(2)} %) |

### Where cold start goes

\`sync()\` loads 32 names at a time; for each it reads the \`current\` pointer once, then \`fullchain.pem\`, \`key.pem\` and \`meta.json\`, and rebuilds the certificate from the facts stored in \`meta.json\` at issuance (serial, validity, key type, issuer, fingerprint) after checking that the SHA-256 of the leaf equals the stored fingerprint — no X.509 parsing and no key re-parsing on load (the certificate passed every check before it was stored). \`FileStore.children\` lists the names with one \`readdir\`. The steps below show what the earlier load path cost (mean µs per certificate, each timed alone over ${Math.min(r.count, 1000).toLocaleString('en-US')} names in the same process):

| step | µs |
|---|---:|
${Object.entries(b).map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

Before these changes (one name at a time, three pointer reads per name, a recursive listing of every version to learn the names, \`normalizePrivateKey()\` (${keyNorm} µs) and a public-key re-import (${keyType} µs more than needed) per certificate) the cold start took 11.0 s on this machine. For reference, a loader that parses each leaf but keeps the stored key, 32 in flight, took **${r.whatIfLoadMs} ms** in the same process, and **${r.whatIfSyncIoMs} ms** with synchronous reads.

The loop at rest: every pass (every \`checkIntervalMs\`) calls \`sync()\` again, which lists the whole store and reads ${n} pointers to notice versions written by other instances; that pass is the CPU in the last row. A store that publishes changes (\`watch\`) could make the periodic re-read rare.

Memory: the heap holds ${n} \`ManagedCertificate\`s as PEM strings (leaf, chain, full chain and key, about ${Math.round(((r.heapAfterStartMb - 14) * 1024) / Math.max(r.count, 1))} KB each over an empty manager's ~14 MB; the intermediate is repeated in every \`chain\` and \`fullchain\`). RSS above the heap right after \`sync()\` is mostly allocator memory left by the OpenSSL parsing of ${n} certificates and keys; it shrinks once the process idles (compare the two RSS rows).
<!-- scale:end -->`;
}

/** Replaces the scale section of docs/benchmarks.md (or appends it), leaving every other section as it is. */
async function writeSection(text: string): Promise<void> {
  const file = path.join(ROOT, 'docs', 'benchmarks.md');
  let doc = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const start = doc.indexOf('<!-- scale:start -->');
  const end = doc.indexOf('<!-- scale:end -->');
  if (start !== -1 && end > start) doc = doc.slice(0, start) + text + doc.slice(end + '<!-- scale:end -->'.length);
  else doc = `${doc.trimEnd()}\n\n## Scale: 10,000 certificates in one manager\n\n${text}\n`;
  await writeFile(file, doc);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args.child, args);
  const directory = await mkdtemp(path.join(tmpdir(), 'certpilot-scale-'));
  try {
    console.error(`generating ${args.count} certificates in ${directory} …`);
    const generateMs = await generate(directory, args.count);
    console.error(`generated in ${generateMs} ms; measuring in a child process (about ${args.idleSeconds + 60} s) …`);
    const profileDir = path.join(tmpdir(), 'certpilot-scale-profiles');
    const script = args.tsx ? fileURLToPath(import.meta.url) : await bundle(directory);
    const result = await runChild(script, directory, args, profileDir);
    console.log(JSON.stringify({ generateMs, ...result }, null, 2));
    if (args.profile) console.error(`CPU profile written to ${profileDir}`);
    if (args.write) {
      const { execFileSync } = await import('node:child_process');
      const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
      await writeSection(section(result, generateMs, commit));
      console.error('docs/benchmarks.md: scale section updated');
    }
  } finally {
    if (args.keep) console.error(`kept ${directory}`);
    else await rm(directory, { recursive: true, force: true });
  }
}

await main();
