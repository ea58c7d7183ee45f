/**
 * What the fleet test and its worker processes say to each other over the
 * Node IPC channel. One worker = one certpilot instance (a manager on a
 * shared RedisStore), as a real fleet would run one per machine.
 */

/** Everything a worker needs, passed as JSON in the CERTPILOT_FLEET environment variable. */
export interface WorkerConfig {
  redisUrl: string;
  /** RedisStore key prefix shared by the fleet. */
  prefix: string;
  /** The managed certificate name and its domains. */
  name: string;
  domains: string[];
  /** Present: the worker may order (issuer role). Absent: a follower (data-plane role). */
  acme?: { directoryUrl: string; caPem: string; managementUrl: string; dnsServer: string };
  /** Manager lease on `certificates/<name>`. */
  lockTtlMs: number;
  /** The manager's periodic re-read; large, so pub/sub must be what delivers changes fast. */
  checkIntervalMs: number;
  /** The DNS provider reports `presented` and then never returns (the process "hangs" mid-order). */
  hangAfterPresent?: boolean;
}

/** Parent → worker. */
export type Command =
  | { id: number; cmd: 'provision' }
  | { id: number; cmd: 'rotate' }
  | { id: number; cmd: 'serve' }
  | { id: number; cmd: 'monitor' }
  | { id: number; cmd: 'close' };

/** Worker → parent. */
export type Message =
  | { type: 'ready'; pid: number }
  | { type: 'done'; id: number; serial?: string; port?: number; at: number }
  | { type: 'failed'; id: number; code?: string; message: string }
  | { type: 'rotated'; serial: string; cause: string; at: number }
  | { type: 'presented'; at: number }
  | { type: 'recovered'; records: number; kept: number }
  | { type: 'log'; message: string };
