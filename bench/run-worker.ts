/** Orchestrator side of the Node library peers: starts a worker process and drives its protocol (see peers/worker.ts). */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { WorkerConfig, WorkerResult } from './peers/worker.js';

/**
 * Runs `script` (a peers/*.ts worker) with tsx in a new Node process. `onReady`
 * runs after the warm-up certificate, before the measured ones start.
 */
export function runWorker(script: string, config: WorkerConfig, onReady: () => Promise<void>): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      env: { ...nodeEnv(), BENCH_WORKER: JSON.stringify(config) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let result: WorkerResult | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'READY') {
        onReady().then(() => child.stdin!.end('GO\n'), (error: unknown) => { child.kill(); reject(error); });
      } else if (line.startsWith('{')) {
        result = JSON.parse(line) as WorkerResult;
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result && code === 0) resolve(result);
      else reject(new Error(`${script} exited with ${signal ?? `code ${code}`} before reporting results`));
    });
  });
}

/**
 * The environment for a measured Node process: this one's, without NODE_EXTRA_CA_CERTS. Some
 * machines point it at the whole system bundle, which every Node process then parses at start-up
 * (tens of MiB of RSS); the peers trust Pebble's CA explicitly and need no extra roots.
 */
export function nodeEnv(): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  return env;
}
