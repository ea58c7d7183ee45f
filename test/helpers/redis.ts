import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { requireBinary, startService, type Service } from './process.js';

/** A running redis-server on 127.0.0.1 without persistence. */
export interface Redis {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  output(): string;
  /** Stops the server and removes its temp directory. */
  stop(): Promise<void>;
  /** Stops and starts the server on the same port; all data is lost (no persistence). */
  restart(): Promise<void>;
}

/** Starts `redis-server` on a free port of 127.0.0.1 (no RDB, no AOF) in a temp directory. */
export async function startRedis(): Promise<Redis> {
  requireBinary('/usr/bin/redis-server', 'redis-server');
  const dir = await mkdtemp(path.join(tmpdir(), 'certpilot-redis-'));
  const port = await freePort();
  let service: Service | undefined;
  const launch = async () => {
    service = startService('/usr/bin/redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ]);
    await waitForPort(port).catch((e: Error) => { throw new Error(`${e.message}\n${service?.output()}`); });
  };
  await launch().catch(async (e) => { await rm(dir, { recursive: true, force: true }); throw e; });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    output: () => service?.output() ?? '',
    stop: async () => {
      await service?.stop();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await service?.stop();
      await launch();
    },
  };
}
