/**
 * Child-process side of a Node library peer (certpilot, raw acme-client).
 * Each library runs in its own process so that its CPU time and peak RSS are
 * read from the kernel the same way for every peer, untouched by the
 * orchestrator, Pebble or the other libraries.
 *
 * Protocol with bench/run-worker.ts: the config arrives in `BENCH_WORKER`
 * (JSON); the worker issues one unmeasured warm-up certificate (account
 * registration, JIT, connection set-up), prints `READY`, waits for a line on
 * stdin (the orchestrator snapshots Pebble's request count in between), issues
 * the measured certificates and prints one JSON line with the results.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** What the orchestrator tells a worker. */
export interface WorkerConfig {
  /** Certificates at once. */
  concurrency: number;
  /** Apex of each measured certificate; each gets `[apex, *.apex]`. */
  domains: string[];
  /** Apex of the unmeasured warm-up certificate. */
  warmup: string;
  /** Where to write `<apex>.pem` (the issued full chain) for verification by the orchestrator. */
  outDir: string;
  directoryUrl: string;
  /** Path of the PEM CA that signs Pebble's HTTPS certificate. */
  caPath: string;
  /** challtestsrv management API, `http://127.0.0.1:PORT`. */
  managementUrl: string;
  /** challtestsrv DNS listener, `127.0.0.1:PORT`. */
  dnsServer: string;
  /** When set, a V8 CPU profile of the measured certificates only (not start-up or warm-up) is written here. */
  profilePath?: string;
}

/** What a worker prints at the end. */
export interface WorkerResult {
  /** Every certificate issued, in completion order: its latency and its phase marks (ms since it started). */
  issued: Array<{ apex: string; latencyMs: number; phases: Record<string, number> }>;
  /** From the first certificate started to the last one finished. */
  wallMs: number;
  /** user + sys CPU of this process while the measured certificates were issued (getrusage RUSAGE_SELF, all threads). */
  cpuMs: number;
  /** user + sys CPU of this process from its start (Node + tsx start-up, warm-up) to the end of the measured run. */
  processCpuMs: number;
  /** Peak RSS of this process over its life (ru_maxrss), KiB. */
  peakRssKb: number;
  failures: string[];
}

/** A peer: issues a certificate for `[apex, *.apex]`, resolves to its full chain PEM; calls `mark` at phase boundaries. */
export type IssueFn = (apex: string, mark: (phase: string) => void) => Promise<string>;

/** Reads the config, runs warm-up and measured issuance with `issue`, prints the results, then calls `close`. */
export async function runWorker(issue: IssueFn, close: () => Promise<void> = async () => {}): Promise<void> {
  const config = JSON.parse(process.env.BENCH_WORKER ?? '') as WorkerConfig;
  await mkdir(config.outDir, { recursive: true });
  const save = (apex: string, pem: string) => writeFile(path.join(config.outDir, `${apex}.pem`), pem);

  await save(config.warmup, await issue(config.warmup, () => {}));
  process.stdout.write('READY\n');
  await new Promise<void>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', () => { lines.close(); resolve(); }); // closed, so stdin does not keep the process alive
  });

  const issued: WorkerResult['issued'] = [];
  const chains: Array<[string, string]> = [];
  const failures: string[] = [];
  const queue = [...config.domains];
  const profiler = config.profilePath ? await startProfiler() : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // `concurrency` loops pull from one queue: at most that many certificates are in flight.
  await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      for (let apex = queue.shift(); apex !== undefined; apex = queue.shift()) {
        const started = performance.now();
        const marks: Record<string, number> = {};
        try {
          const pem = await issue(apex, (phase) => { marks[phase] = performance.now() - started; });
          issued.push({ apex, latencyMs: performance.now() - started, phases: marks });
          chains.push([apex, pem]); // written after the measurement: file I/O is not the peer's work
        } catch (error) {
          failures.push(`${apex}: ${(error as Error).message}`);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const total = process.cpuUsage();
  if (profiler) await writeFile(config.profilePath!, JSON.stringify(await profiler.stop()));
  for (const [apex, pem] of chains) await save(apex, pem);
  const result: WorkerResult = {
    issued,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    processCpuMs: (total.user + total.system) / 1000,
    peakRssKb: process.resourceUsage().maxRSS,
    failures,
  };
  await close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

/** Starts V8's sampling profiler in this process (100 µs interval); `stop()` resolves to the profile (`.cpuprofile` JSON). */
async function startProfiler(): Promise<{ stop(): Promise<unknown> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}
