/** Orchestrator side of the CLI peers (lego, certbot): one process per certificate, run by peers/cli-pool.py. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeEnv } from './run-worker.js';

/** One CLI invocation. `{slot}` in args and env values becomes the pool slot (0..concurrency-1). */
export interface CliJob {
  args: string[];
  env?: Record<string, string>;
  /** File that receives the invocation's stdout and stderr. */
  log: string;
}

/** Wall time and rusage (from wait4: the process and every child it waited for, e.g. its hooks) of one invocation. */
export interface CliJobResult {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** Peak RSS of the largest process in the invocation's tree, KiB. */
  maxRssKb: number;
  code: number;
  slot: number;
}

/** A CLI peer: how to issue one certificate, and where the result lands. */
export interface CliPeer {
  readonly name: string;
  /** The invocation that issues a certificate for `[apex, *.apex]`. */
  job(apex: string): CliJob;
  /** Runs once the warm-up invocation registered the account, before the measured ones (certbot copies it to every slot). */
  afterWarmup?(concurrency: number): Promise<void>;
  /** The full chain the invocation for `apex` wrote (slot as reported by the pool). */
  fullchainPath(apex: string, slot: number): string;
}

const POOL = fileURLToPath(new URL('./peers/cli-pool.py', import.meta.url));

/** Runs `jobs`, `concurrency` at a time; resolves to the pool's wall time and each job's figures, in order. */
export function runCliPool(concurrency: number, jobs: CliJob[]): Promise<{ wallMs: number; jobs: CliJobResult[] }> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', [POOL], { maxBuffer: 16 << 20, env: nodeEnv() }, (error, stdout) => {
      if (error) return reject(error);
      resolve(JSON.parse(stdout) as { wallMs: number; jobs: CliJobResult[] });
    });
    child.stdin!.end(JSON.stringify({ concurrency, jobs }));
  });
}
