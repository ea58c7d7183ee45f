/** One measured run: a peer issues N certificates at a concurrency, with its figures and every chain checked. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestsBetween, type CaRequestCounter, type RequestCounts } from './ca-requests.js';
import { runCliPool, type CliPeer } from './run-cli.js';
import { runWorker } from './run-worker.js';
import { checkFullchain } from './verify.js';
import type { CliContext } from './peers/cli-context.js';

/** The peers, in report order. */
export const TOOLS = ['certpilot', 'acme-client', 'lego', 'certbot'] as const;
export type Tool = (typeof TOOLS)[number];

/** Figures of one run. */
export interface Measurement {
  tool: Tool;
  concurrency: number;
  /** Certificates asked for. */
  n: number;
  /** Latency of each certificate that was issued and verified, ms. */
  latenciesMs: number[];
  /** First start to last finish, ms. */
  wallMs: number;
  /** user + sys CPU spent on the measured certificates, ms (see the report for how, per peer). */
  cpuMs: number;
  /** Node peers: CPU of the whole worker process (start-up, tsx, warm-up included), ms. */
  processCpuMs?: number;
  /** Peak RSS of the largest process of the peer, KiB. */
  peakRssKb: number;
  /** ACME requests Pebble served during the measured certificates. */
  requests: RequestCounts;
  /** Per certificate: phase → ms since its start (Node peers only). */
  phases: Record<string, number>[];
  failures: string[];
  /** Share of the machine's CPU that was busy in the second before the run (set by the caller). */
  busyBefore?: number;
}

/** What every run needs. */
export interface RunContext {
  counter: CaRequestCounter;
  rootPem: string;
  /** Pebble, challtestsrv and a directory of this run's own. */
  bed: CliContext;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** The apex names of one run's certificates, distinct across runs: `<tool>-c<concurrency>-<i>.bench.test`. */
function names(tool: Tool, concurrency: number, n: number): { warmup: string; domains: string[] } {
  const base = `${tool}-c${concurrency}`;
  return { warmup: `${base}-warmup.bench.test`, domains: Array.from({ length: n }, (_, i) => `${base}-${i}.bench.test`) };
}

/** Runs a Node library peer (`peers/<tool>.ts`) in its own process. */
export async function measureNode(tool: Tool, concurrency: number, n: number, ctx: RunContext): Promise<Measurement> {
  const { warmup, domains } = names(tool, concurrency, n);
  const outDir = path.join(ctx.bed.dir, 'chains');
  let before: RequestCounts = {};
  const result = await runWorker(
    path.join(here, 'peers', `${tool}.ts`),
    { concurrency, domains, warmup, outDir, directoryUrl: ctx.bed.directoryUrl, caPath: ctx.bed.caPath, managementUrl: ctx.bed.managementUrl, dnsServer: ctx.bed.dnsServer },
    async () => { before = await ctx.counter.snapshot(); },
  );
  const requests = requestsBetween(before, await ctx.counter.snapshot());
  const failures = [...result.failures];
  // A certificate counts only if it was issued and its chain passes the check (the warm-up's is checked too).
  const chain = (apex: string) => path.join(outDir, `${apex}.pem`);
  await verifyAll([warmup], chain, ctx.rootPem, failures);
  const ok = await verifyAll(result.issued.map((c) => c.apex), chain, ctx.rootPem, failures);
  const issued = result.issued.filter((c) => ok.has(c.apex));
  return {
    tool, concurrency, n, latenciesMs: issued.map((c) => c.latencyMs), wallMs: result.wallMs, cpuMs: result.cpuMs,
    processCpuMs: result.processCpuMs, peakRssKb: result.peakRssKb, requests, phases: issued.map((c) => c.phases), failures,
  };
}

/** Runs a CLI peer: one unmeasured warm-up invocation (registers the account), then `n` measured ones. */
export async function measureCli(peer: CliPeer, tool: Tool, concurrency: number, n: number, ctx: RunContext): Promise<Measurement> {
  const { warmup, domains } = names(tool, concurrency, n);
  const warm = await runCliPool(1, [peer.job(warmup)]);
  if (warm.jobs[0]!.code !== 0) throw new Error(`${tool} warm-up failed (exit ${warm.jobs[0]!.code}); see ${peer.job(warmup).log}`);
  const failures: string[] = [];
  await verifyAll([warmup], (apex) => peer.fullchainPath(apex, 0), ctx.rootPem, failures);
  await peer.afterWarmup?.(concurrency);
  const before = await ctx.counter.snapshot();
  const pool = await runCliPool(concurrency, domains.map((d) => peer.job(d)));
  const requests = requestsBetween(before, await ctx.counter.snapshot());
  pool.jobs.forEach((job, i) => { if (job.code !== 0) failures.push(`${domains[i]}: exit ${job.code}`); });
  const slotOf = new Map(domains.map((d, i) => [d, pool.jobs[i]!.slot]));
  const ok = await verifyAll(domains.filter((_, i) => pool.jobs[i]!.code === 0), (apex) => peer.fullchainPath(apex, slotOf.get(apex)!), ctx.rootPem, failures);
  return {
    tool, concurrency, n,
    latenciesMs: pool.jobs.filter((_, i) => ok.has(domains[i]!)).map((j) => j.wallMs),
    wallMs: pool.wallMs,
    cpuMs: pool.jobs.reduce((total, j) => total + j.userMs + j.sysMs, 0),
    peakRssKb: Math.max(...pool.jobs.map((j) => j.maxRssKb)),
    requests, phases: [], failures,
  };
}

/** Checks every chain; returns the apexes whose chain passed and appends a failure for the others. */
async function verifyAll(domains: string[], file: (apex: string) => string, rootPem: string, failures: string[]): Promise<Set<string>> {
  const ok = new Set<string>();
  for (const apex of domains) {
    const pem = await readFile(file(apex), 'utf8').catch(() => undefined);
    const problem = pem === undefined ? `no chain at ${file(apex)}` : checkFullchain(pem, rootPem, apex);
    if (problem) failures.push(`${apex}: ${problem}`);
    else ok.add(apex);
  }
  return ok;
}
