/**
 * Issuance benchmark (issue #7): certpilot, raw acme-client, lego and certbot
 * side by side against one Pebble + pebble-challtestsrv. Writes the "Issuance"
 * section of docs/benchmarks.md and docs/benchmarks-issuance.svg.
 *
 *   npx tsx bench/issuance.ts [--n 20] [--cli-n N] [--concurrency 1,8] [--tools certpilot,acme-client,lego,certbot] [--no-write]
 *
 * Not a test: nothing here asserts. A failed certificate is reported, not fatal.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPebble } from '../test/helpers/pebble.js';
import { CaRequestCounter } from './ca-requests.js';
import { barChart, format } from './chart.js';
import { cpuBusy, describeMachine } from './machine.js';
import { measureCli, measureNode, TOOLS, type Measurement, type RunContext, type Tool } from './measure.js';
import { certbot } from './peers/certbot.js';
import type { CliContext } from './peers/cli-context.js';
import { lego } from './peers/lego.js';
import { summariseProfile, type ProfileSummary } from './profile.js';
import { LABELS, renderSection, summarize, targets, writeSection } from './report.js';
import { runCliPool } from './run-cli.js';
import { runWorker } from './run-worker.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '20' },
    'cli-n': { type: 'string' },
    concurrency: { type: 'string', default: '1,8' },
    tools: { type: 'string', default: TOOLS.join(',') },
    'no-write': { type: 'boolean', default: false },
  },
});
const n = positive(flags.n, '--n');
const cliN = flags['cli-n'] === undefined ? n : positive(flags['cli-n'], '--cli-n');
const concurrencies = flags.concurrency.split(',').map((c) => positive(c, '--concurrency'));
const tools = flags.tools.split(',').map((t) => {
  if (!(TOOLS as readonly string[]).includes(t)) throw new Error(`--tools: unknown tool ${t}; known: ${TOOLS.join(', ')}`);
  return t as Tool;
});

function positive(value: string, flag: string): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} needs a positive integer, got ${value}`);
  return v;
}

async function main(): Promise<void> {
  const machine = describeMachine(repo);
  const work = await mkdtemp(path.join(os.tmpdir(), 'certpilot-bench-'));
  console.log(`issuance benchmark: ${tools.join(', ')} at concurrency ${concurrencies.join(', ')}; N = ${n} (lego, certbot: ${cliN}); work dir ${work}`);
  const pebble = await startPebble(); // PEBBLE_VA_NOSLEEP=1, no nonce rejection, no authorization reuse
  const results: Measurement[] = [];
  const failedRuns: string[] = [];
  let profile: ProfileSummary | undefined;
  try {
    const counter = new CaRequestCounter(pebble);
    const rootPem = await pebble.rootPem();
    const bedFor = async (name: string): Promise<CliContext> => {
      const dir = path.join(work, name);
      await mkdir(dir, { recursive: true });
      return { dir, directoryUrl: pebble.directoryUrl, caPath: pebble.caPath, dnsServer: pebble.dnsServer, managementUrl: pebble.challtestsrv!.managementUrl };
    };
    // Concurrency outside, tools inside: the runs compared with each other are close in time,
    // so a change in the machine's load between runs skews them less.
    for (const c of concurrencies) {
      for (const tool of tools) {
        const bed = await bedFor(`${tool}-c${c}`);
        const ctx: RunContext = { counter, rootPem, bed };
        const count = tool === 'lego' || tool === 'certbot' ? cliN : n;
        const busyBefore = await cpuBusy();
        const started = Date.now();
        let m: Measurement;
        try {
          m =
            tool === 'lego' ? await measureCli(lego(bed), tool, c, count, ctx)
            : tool === 'certbot' ? await measureCli(certbot(bed), tool, c, count, ctx)
            : await measureNode(tool, c, count, ctx);
        } catch (error) {
          // One peer failing (a missing binary, a crash) must not cost the others' figures.
          failedRuns.push(`${LABELS[tool]} at concurrency ${c}: ${(error as Error).message.split('\n')[0]}`);
          console.error(`${LABELS[tool]} c=${c} failed: ${(error as Error).message}`);
          continue;
        }
        results.push({ ...m, busyBefore });
        const s = summarize(m);
        console.log(
          `${LABELS[tool].padEnd(16)} c=${String(c).padEnd(2)} median ${format(s.medianMs)} ms, p95 ${format(s.p95Ms)} ms, ${format(s.throughput)}/s, ` +
            `CPU ${format(s.cpuMsPerCert)} ms/cert, RSS ${format(s.peakRssMiB)} MiB, ${format(s.requestsPerCert)} req/cert, ${s.issued}/${s.n} verified (${((Date.now() - started) / 1000).toFixed(0)} s; machine ${(busyBefore * 100).toFixed(0)} % busy before)`,
        );
        for (const f of m.failures) console.log(`    failed: ${f}`);
      }
    }
    if (tools.includes('certpilot')) profile = await profileCertpilot(await bedFor('certpilot-profile'));
  } finally {
    await pebble.stop();
  }

  const get = (tool: Tool, c: number) => { const m = results.find((r) => r.tool === tool && r.concurrency === c); return m ? summarize(m) : undefined; };
  for (const t of targets(get, concurrencies)) console.log(`target ${t.met ? 'met   ' : 'MISSED'}: ${t.text} — ${t.measured}`);

  if (!flags['no-write']) {
    const svgName = 'benchmarks-issuance.svg';
    const rows = (f: (tool: Tool, c: number) => number) => tools.map((t) => ({ label: LABELS[t], values: concurrencies.map((c) => f(t, c)) }));
    const svg = barChart('Issuing one certificate (apex + wildcard) from a local Pebble', concurrencies.map((c) => `concurrency ${c}`), [
      { title: 'Median latency per certificate (ms, log scale; shorter is better)', unit: 'ms', rows: rows((t, c) => get(t, c)?.medianMs ?? Number.NaN) },
      { title: 'Throughput (certificates/s, log scale; longer is better)', unit: '/s', rows: rows((t, c) => get(t, c)?.throughput ?? Number.NaN) },
    ]);
    await writeFile(path.join(repo, 'docs', svgName), svg);
    const body = renderSection({
      date: new Date(),
      command: ['npx tsx bench/issuance.ts', ...process.argv.slice(2)].join(' '),
      machine,
      loadEnd: os.loadavg()[0]!,
      tools,
      concurrencies,
      results,
      failedRuns,
      baselineRssMiB: await baselineRss(work),
      ...(profile ? { profile } : {}),
      svgName,
    });
    await writeSection(path.join(repo, 'docs', 'benchmarks.md'), body);
    console.log('wrote docs/benchmarks.md (Issuance section) and docs/benchmarks-issuance.svg');
  }
  await rm(work, { recursive: true, force: true });
}

/** A separate certpilot run at concurrency 1 with V8's profiler on during its certificates (not in the tables: the profiler slows it). */
async function profileCertpilot(bed: CliContext): Promise<ProfileSummary> {
  const profilePath = path.join(bed.dir, 'certpilot.cpuprofile');
  const domains = Array.from({ length: n }, (_, i) => `certpilot-profile-${i}.bench.test`);
  await runWorker(
    path.join(repo, 'bench', 'peers', 'certpilot.ts'),
    { concurrency: 1, domains, warmup: 'certpilot-profile-warmup.bench.test', outDir: path.join(bed.dir, 'chains'), directoryUrl: bed.directoryUrl, caPath: bed.caPath, managementUrl: bed.managementUrl, dnsServer: bed.dnsServer, profilePath },
    async () => {},
  );
  return summariseProfile(profilePath, repo);
}

/** Peak RSS of an empty Node process, without and with tsx: the floor under both Node peers. */
async function baselineRss(work: string): Promise<{ node: number; tsx: number }> {
  const log = path.join(work, 'baseline.log');
  const { jobs } = await runCliPool(1, [
    { args: [process.execPath, '-e', '0'], log },
    { args: [process.execPath, '--import', 'tsx', '-e', '0'], log },
  ]);
  return { node: jobs[0]!.maxRssKb / 1024, tsx: jobs[1]!.maxRssKb / 1024 };
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
