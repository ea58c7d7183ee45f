/**
 * The "Issuance" section of docs/benchmarks.md: tables, targets, chart and the
 * notes on method, rendered from one run. Only the text between the issuance
 * markers is replaced, so other benchmarks can own other sections of the file.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { RequestCounts } from './ca-requests.js';
import { format } from './chart.js';
import type { Machine } from './machine.js';
import type { Measurement, Tool } from './measure.js';
import type { ProfileSummary } from './profile.js';
import { median, percentile, sum } from './stats.js';

const START = '<!-- issuance:start -->';
const END = '<!-- issuance:end -->';

/** Display names, in column order. */
export const LABELS: Record<Tool, string> = { certpilot: 'certpilot', 'acme-client': 'raw acme-client', lego: 'lego', certbot: 'certbot' };

/** The figures of one run that the tables show. */
export interface Summary {
  medianMs: number;
  p95Ms: number;
  /** Certificates per second over the run's wall time. */
  throughput: number;
  cpuMsPerCert: number;
  peakRssMiB: number;
  requestsPerCert: number;
  requests: RequestCounts;
  issued: number;
  n: number;
}

/** Reduces a measurement to its table figures. */
export function summarize(m: Measurement): Summary {
  const issued = m.latenciesMs.length;
  return {
    medianMs: median(m.latenciesMs),
    p95Ms: percentile(m.latenciesMs, 95),
    throughput: issued / (m.wallMs / 1000),
    cpuMsPerCert: m.cpuMs / issued,
    peakRssMiB: m.peakRssKb / 1024,
    requestsPerCert: sum(Object.values(m.requests)) / issued,
    requests: m.requests,
    issued,
    n: m.n,
  };
}

/** Everything the section is rendered from. */
export interface ReportInput {
  date: Date;
  /** The command line that produced it. */
  command: string;
  machine: Machine;
  loadEnd: number;
  tools: Tool[];
  concurrencies: number[];
  results: Measurement[];
  /** Runs that produced no figures, with why. */
  failedRuns: string[];
  /** Peak RSS of `node -e 0` and of `node --import tsx -e 0`, MiB: the floor under both Node peers. */
  baselineRssMiB: { node: number; tsx: number };
  profile?: ProfileSummary;
  svgName: string;
}

/** One target of issue #7 and whether this run met it. */
export interface Target { text: string; measured: string; met: boolean }

/** Evaluates the targets at concurrency 1 (per certificate), with concurrency 8 shown alongside. */
export function targets(get: (tool: Tool, c: number) => Summary | undefined, concurrencies: number[]): Target[] {
  const out: Target[] = [];
  const at = (tool: Tool) => concurrencies.map((c) => ({ c, s: get(tool, c) })).filter((x): x is { c: number; s: Summary } => !!x.s);
  const cp = at('certpilot');
  const ratio = (tool: Tool, f: (a: Summary, b: Summary) => number) =>
    cp.map(({ c, s }) => { const o = get(tool, c); return o ? { c, r: f(s, o) } : undefined; }).filter((x): x is { c: number; r: number } => !!x);
  const show = (xs: { c: number; r: number }[]) => xs.map(({ c, r }) => `${r.toFixed(2)}× at concurrency ${c}`).join(', ');
  const raw = ratio('acme-client', (a, b) => a.medianMs / b.medianMs);
  if (raw.length) out.push({ text: 'certpilot median latency ≤ 1.2 × raw acme-client', measured: show(raw), met: raw[0]!.r <= 1.2 });
  for (const peer of ['lego', 'certbot'] as const) {
    const r = ratio(peer, (a, b) => b.medianMs / a.medianMs);
    if (r.length) out.push({ text: `certpilot ≥ 10 × faster than ${peer} per certificate (median latency)`, measured: `${peer} takes ${show(r)} as long`, met: r[0]!.r >= 10 });
  }
  const req = cp.map(({ c, s }) => ({ c, a: s.requestsPerCert, b: get('acme-client', c)?.requestsPerCert })).filter((x) => x.b !== undefined);
  if (req.length) {
    out.push({
      text: 'certpilot sends no more CA requests per certificate than raw acme-client',
      measured: req.map(({ c, a, b }) => `${format(a)} vs ${format(b!)} at concurrency ${c}`).join(', '),
      met: req.every(({ a, b }) => a <= b!),
    });
  }
  return out;
}

/** Renders the section body (between the markers). */
export function renderSection(input: ReportInput): string {
  const { tools, concurrencies, machine } = input;
  const get = (tool: Tool, c: number) => {
    const m = input.results.find((r) => r.tool === tool && r.concurrency === c);
    return m ? summarize(m) : undefined;
  };
  const cell = (tool: Tool, c: number, f: (s: Summary) => string) => { const s = get(tool, c); return s ? f(s) : '—'; };
  const header = `| | ${tools.map((t) => LABELS[t]).join(' | ')} |\n|---|${tools.map(() => '---:').join('|')}|`;
  const row = (label: string, f: (tool: Tool) => string) => `| ${label} | ${tools.map(f).join(' | ')} |`;
  const perC = (label: string, f: (s: Summary) => string) => concurrencies.map((c) => row(`${label}, concurrency ${c}`, (t) => cell(t, c, f)));
  const vsCertpilot = (c: number) => row(`median latency ÷ certpilot's, concurrency ${c}`, (t) => {
    const base = get('certpilot', c);
    return cell(t, c, (s) => (base ? `${(s.medianMs / base.medianMs).toFixed(2)}×` : '—'));
  });

  const lines: string[] = [];
  lines.push(`_Generated by \`npm run bench\` on ${input.date.toISOString().slice(0, 16).replace('T', ' ')} UTC from certpilot ${machine.certpilot}. The next run replaces everything between the issuance markers: do not edit it by hand._`, '');
  lines.push('How long it takes to get one certificate for `name` + `*.name` over ACME DNS-01 from a local CA, with certpilot and with three peers, all in one run against the same Pebble + pebble-challtestsrv (`PEBBLE_VA_NOSLEEP=1`, no nonce rejection, no authorization reuse).', '');
  lines.push(`![Median latency per certificate and throughput, per tool and concurrency](${input.svgName})`, '');

  lines.push('### Results', '', header);
  lines.push(...perC('latency median (ms)', (s) => format(s.medianMs)));
  lines.push(...perC('latency p95 (ms)', (s) => format(s.p95Ms)));
  lines.push(...perC('throughput (certificates/s)', (s) => format(s.throughput)));
  lines.push(...perC('CPU per certificate (ms, user + sys)', (s) => format(s.cpuMsPerCert)));
  lines.push(...perC('peak RSS (MiB)', (s) => format(s.peakRssMiB)));
  lines.push(...perC('CA requests per certificate', (s) => format(s.requestsPerCert)));
  lines.push(...perC('certificates issued and verified', (s) => `${s.issued}/${s.n}`));
  lines.push(...concurrencies.map((c) => row(`machine CPU busy in the second before the run, concurrency ${c}`, (t) => {
    const busy = input.results.find((r) => r.tool === t && r.concurrency === c)?.busyBefore;
    return busy === undefined ? '—' : `${(busy * 100).toFixed(0)} %`;
  })));
  lines.push(...concurrencies.map(vsCertpilot), '');
  const failures = input.results.flatMap((m) => m.failures.map((f) => `${LABELS[m.tool]} at concurrency ${m.concurrency}: ${f}`));
  if (input.failedRuns.length || failures.length) {
    lines.push('Failures (not in the figures above):', '', ...[...input.failedRuns, ...failures].map((f) => `- ${f}`), '');
  }

  lines.push('### Targets (issue #7)', '', '| target | measured | met? |', '|---|---|---|');
  for (const t of targets(get, concurrencies)) lines.push(`| ${t.text} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  lines.push('', `Targets are judged at concurrency ${concurrencies[0]} (the per-certificate figure); the other concurrency is shown for reference.`, '');

  lines.push(...requestTable(input, get), '');
  lines.push(...phaseTable(input), '');
  if (input.profile) lines.push(...profileTable(input.profile), '');

  lines.push('### Why the peers are slower', '');
  lines.push(
    'Not CPU: they spend most of a certificate waiting. lego 4.9 polls an authorization once right after answering its challenge and, as Pebble sends no `Retry-After`, next after 5 s (longer on later polls); it then polls the finalized order at 500 ms intervals. So a lego certificate takes under a second when Pebble has validated before lego\'s first poll and over 5 s otherwise: its latencies are bimodal. certbot 2.1 sleeps 1 s before polling the authorizations and 1 s before polling the finalized order, and each invocation pays Python\'s start-up (most of its CPU time). raw acme-client polls as fast as its `backoffMin` allows, but fetches a fresh nonce (`HEAD /nonce-plz`) before every signed request and polls each challenge rather than its authorization; and since its HEAD responses never hand their keep-alive socket back to the agent, nearly every request opens a new TLS connection. certpilot reuses the `Replay-Nonce` of each response and keeps its connections.',
    '',
  );

  lines.push('### How it was measured', '');
  lines.push(
    `- **Certificates.** Each tool issues ${[...new Set(input.results.map((r) => r.n))].join(' or ')} certificates per concurrency (${concurrencies.join(' and ')}), each for a distinct name \`<tool>-c<concurrency>-<i>.bench.test\` and its wildcard, ECDSA P-256 keys for all. Before the measured certificates each tool issues one unmeasured warm-up certificate that registers its ACME account (and warms the JIT and connections of the Node peers); the measured ones reuse that account.`,
    '- **Peers.** *certpilot*: one `CertificateManager` (MemoryStore) with an `AcmeIssuer` and the challtestsrv provider, propagation checked at challtestsrv\'s DNS listener, `provision()` per certificate — the public API as an application uses it (bench/peers/certpilot.ts). *raw acme-client*: `client.auto()` with `skipChallengeVerification: true`, `backoffMin: 25` (certpilot\'s first poll delay; the default is 5000), hooks that POST to challtestsrv, trust for Pebble\'s CA through an `httpsAgent` on this client\'s own `http.request` — acme-client\'s global axios untouched (bench/peers/acme-client.ts). *lego*: `lego run` per certificate, `--dns exec` with a bash hook (bench/peers/challtestsrv-hook.sh), `--dns.resolvers <challtestsrv> --dns.disable-cp`, `EXEC_SEQUENCE_INTERVAL=0`, `EXEC_POLLING_INTERVAL=0`, `LEGO_CA_CERTIFICATES` (bench/peers/lego.ts). *certbot*: `certbot certonly --manual` per certificate with the same hook for auth and cleanup, `REQUESTS_CA_BUNDLE`, one config/work/logs directory set per concurrent slot because certbot locks them (bench/peers/certbot.ts).',
    '- **Latency** is one certificate from the call (or process start) to the chain in hand; **throughput** is certificates issued ÷ wall time from the first start to the last finish. Median and p95 (nearest rank: with 20 samples the 19th fastest).',
    '- **CPU and memory** come from the kernel\'s rusage for every peer, each in processes of its own (never the benchmark\'s): certpilot and raw acme-client each run in their own Node process, which reads `process.cpuUsage()` (user + sys, all threads) around the measured certificates and `ru_maxrss` at the end; lego and certbot run one process per certificate under bench/peers/cli-pool.py, which reads each one\'s rusage from `wait4()` (microseconds, including the hook processes it waited for) and sums the CPU. Peak RSS is the largest process: the Node worker (over its whole life), or the largest single lego/certbot process.',
    `- **Node floor.** Both Node peers run TypeScript through tsx: \`node -e 0\` peaks at ${format(input.baselineRssMiB.node)} MiB here and \`node --import tsx -e 0\` at ${format(input.baselineRssMiB.tsx)} MiB, so most of their peak RSS is the runtime, not the library. Their whole-process CPU including Node start-up, tsx compilation and the warm-up certificate was ${tools.filter((t) => t === 'certpilot' || t === 'acme-client').map((t) => `${LABELS[t]} ${concurrencies.map((c) => { const m = input.results.find((r) => r.tool === t && r.concurrency === c); return m?.processCpuMs ? format(m.processCpuMs) : '—'; }).join(' / ')} ms`).join(', ')} (concurrency ${concurrencies.join(' / ')}); a CLI pays its start-up on every certificate, which is in its figure above.`,
    '- **CA requests** are the HTTP requests Pebble logged while the measured certificates were issued: Pebble 2.4 writes one line per ACME request, `<METHOD> <path> -> calling handler()`, which the benchmark counts from its output between the start and end of each measured run.',
    '- **Verification.** Every chain is checked before it counts: leaf → intermediate → the root fetched from Pebble\'s management API after it started, signature by signature, the leaf naming exactly the apex and the wildcard, valid now, ECDSA P-256.',
    '- Pebble, challtestsrv and the benchmark share the machine with the peers; Pebble\'s own CPU is in no peer\'s figure.',
    '',
  );

  lines.push('### Machine', '');
  lines.push(
    `- CPU: ${machine.cpu}, ${machine.cores} cores; memory ${machine.memoryGiB.toFixed(1)} GiB; ${machine.os}`,
    `- Node ${machine.node}; acme-client ${machine.acmeClient}; Pebble ${machine.pebble}; lego ${machine.lego}; certbot ${machine.certbot}`,
    `- 1-minute load average ${machine.loadStart.toFixed(2)} at the start and ${input.loadEnd.toFixed(2)} at the end of the run (it lags by about a minute; the "machine CPU busy" rows above show whether other work competed with each run).`,
    '',
  );

  lines.push('### Run it again', '', '```sh');
  lines.push('npm run bench                                # = bash scripts/bench.sh: installs Pebble, lego and certbot when missing, then runs bench/issuance.ts');
  lines.push('npm run bench -- --n 50 --concurrency 1,8,32 # more certificates, other concurrencies (--cli-n sets N for lego and certbot alone)');
  lines.push('npm run bench -- --no-write                   # print the figures, leave docs/ alone');
  lines.push('```', '', `This run: \`${input.command}\`.`);
  return lines.join('\n');
}

function requestTable(input: ReportInput, get: (tool: Tool, c: number) => Summary | undefined): string[] {
  const c = input.concurrencies[0]!;
  const summaries = input.tools.map((t) => get(t, c));
  const kinds = [...new Set(summaries.flatMap((s) => Object.keys(s?.requests ?? {})))].sort();
  return [
    `### CA requests per certificate, by kind (concurrency ${c})`, '',
    `| request | ${input.tools.map((t) => LABELS[t]).join(' | ')} |`, `|---|${input.tools.map(() => '---:').join('|')}|`,
    ...kinds.map((k) => `| \`${k}\` | ${summaries.map((s) => (s?.requests[k] ? format(s.requests[k]! / s.issued) : '')).join(' | ')} |`),
  ];
}

/** Median time of each phase, from certpilot's events and from acme-client's challenge hooks. */
function phaseTable(input: ReportInput): string[] {
  const c = input.concurrencies[0]!;
  const phases = (tool: Tool) => input.results.find((r) => r.tool === tool && r.concurrency === c);
  const cp = phases('certpilot');
  const raw = phases('acme-client');
  if (!cp && !raw) return [];
  const seg = (m: Measurement | undefined, from: string | undefined, to: string | undefined) => {
    if (!m) return '—';
    const values = m.phases.map((p, i) => (to ? p[to]! : m.latenciesMs[i]!) - (from ? p[from]! : 0)).filter(Number.isFinite);
    return values.length ? format(median(values)) : '—';
  };
  return [
    `### Where the time goes (median ms per phase, concurrency ${c})`, '',
    '| phase | certpilot | raw acme-client |', '|---|---:|---:|',
    `| new order, authorizations read, TXT records published | ${seg(cp, undefined, 'presented')} | ${seg(raw, undefined, 'presented')} |`,
    `| propagation check at the DNS server | ${seg(cp, 'presented', 'propagated')} | skipped |`,
    `| challenges answered, validation polled, TXT records removed | ${seg(cp, 'propagated', 'cleaned')} | ${seg(raw, 'presented', 'cleaned')} |`,
    `| finalized, certificate downloaded${cp ? ' (certpilot: checked and stored)' : ''} | ${seg(cp, 'cleaned', 'issued')} | ${seg(raw, 'cleaned', undefined)} |`,
    `| certificate activated (provision() resolves) | ${seg(cp, 'issued', undefined)} | — |`,
    `| whole certificate | ${seg(cp, undefined, undefined)} | ${seg(raw, undefined, undefined)} |`,
    '',
    'certpilot\'s phases come from its `challenge:presented`, `challenge:propagated`, `challenge:cleaned` and `certificate:issued` events; raw acme-client\'s from its `challengeCreateFn`/`challengeRemoveFn` hooks (the later of the two challenges each). certpilot builds the CSR while the CA validates (off the critical path); the raw acme-client peer builds it before calling `auto()` (in the first phase). Medians of the phases need not add up to the median of the whole.',
  ];
}

function profileTable(profile: ProfileSummary): string[] {
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  return [
    '### certpilot CPU profile (measured certificates only, concurrency 1)', '',
    `V8 sampling profile of a separate certpilot run (the profiler slows it, so it is not in the tables): ${format(profile.busyMs)} ms sampled busy out of ${format(profile.totalMs)} ms. Each sample is billed to the nearest certpilot or npm frame on its stack, so Node internals and native calls (ECDSA signing, TLS writes) count for the library that made them.`, '',
    '| billed to | sampled ms | share |', '|---|---:|---:|',
    ...profile.byComponent.map((e) => `| ${e.name} | ${format(e.ms)} | ${pct(e.share)} |`), '',
    '| hottest functions (top of stack ← billed frame) | sampled ms | share |', '|---|---:|---:|',
    ...profile.topFunctions.map((e) => `| \`${e.name.replace(/\|/g, '\\|')}\` | ${format(e.ms)} | ${pct(e.share)} |`),
  ];
}

/** Replaces the issuance section of `file` (creating the file or the section when missing). */
export async function writeSection(file: string, body: string): Promise<void> {
  const section = `${START}\n${body}\n${END}`;
  const current = existsSync(file) ? await readFile(file, 'utf8') : '';
  let next: string;
  if (current.includes(START) && current.includes(END)) {
    next = current.slice(0, current.indexOf(START)) + section + current.slice(current.indexOf(END) + END.length);
  } else if (current) {
    next = `${current.trimEnd()}\n\n## Issuance\n\n${section}\n`;
  } else {
    next = [
      '# Benchmarks', '',
      'Measurements, not tests: scripts in `bench/` produce them and nothing asserts on them. Each section is written by its own benchmark and regenerated on its own, between its markers.', '',
      '## Issuance', '', section, '',
    ].join('\n');
  }
  await writeFile(file, next);
}
