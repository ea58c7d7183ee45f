/**
 * Connection plumbing of {@link RedisStore}: the lazily imported ioredis
 * client, connection options from a URL without ever echoing its
 * credentials, and one way of turning client failures into `StoreError`s.
 *
 * ioredis is an optional peer dependency: it is imported on first use, so
 * `certpilot` itself loads without it and a missing package is a clear error
 * that names the command to run.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ConfigError, StoreError, scrub } from '../errors.js';

/** The clients RedisStore accepts: an ioredis `Redis` (standalone or Sentinel) or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** How to reach the server when RedisStore creates its own client. */
export interface RedisConnectionOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` for TLS. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** ACL user name; overrides one in `url`. @default the URL's, else none (the `default` user) */
  username?: string;
  /** Password (AUTH); overrides one in `url`. Never appears in errors. @default the URL's, else none */
  password?: string;
  /** Database number; overrides one in `url`. @default the URL's, else 0 */
  db?: number;
  /** TLS for the connection: `true` or Node TLS options (`ca`, `cert`, `key`, `servername`, …). A `rediss://` URL implies `true`. @default false */
  tls?: boolean | ConnectionOptions;
  /** Give up connecting after this long (ioredis then retries with back-off). @default 10000 */
  connectTimeoutMs?: number;
  /** Further ioredis options, applied last (e.g. `sentinels`, `retryStrategy`). @default {} */
  redisOptions?: RedisOptions;
}

/** Default server when neither `url` nor `client` is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** ioredis options (credentials included) and a description of the target that is safe to print. */
export interface ResolvedConnection {
  options: RedisOptions;
  /** `redis://host:port/db` — never user name or password. */
  target: string;
}

/** Parses `url` and merges explicit options; throws a `ConfigError` that never quotes the URL (it may hold a password). */
export function resolveConnection(input: RedisConnectionOptions): ResolvedConnection {
  let url: URL;
  try {
    url = new URL(input.url ?? DEFAULT_REDIS_URL);
  } catch {
    throw new ConfigError('INVALID_OPTIONS', 'RedisStore: `url` is not a valid URL; use redis://host:port[/db] or rediss://… (the URL is not shown here because it may contain a password)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('INVALID_OPTIONS', `RedisStore: \`url\` must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = url.port ? Number(url.port) : 6379;
  const dbPath = url.pathname.replace(/^\//, '');
  const db = input.db ?? (dbPath === '' ? 0 : Number(dbPath));
  if (!Number.isInteger(db) || db < 0) throw new ConfigError('INVALID_OPTIONS', `RedisStore: the database must be an integer >= 0, got ${JSON.stringify(input.db ?? dbPath)}`);
  const username = input.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password = input.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const tlsOption = input.tls ?? (url.protocol === 'rediss:' ? true : false);
  const tls = tlsOption === true ? { servername: host } : tlsOption === false ? undefined : tlsOption;
  const options: RedisOptions = {
    host,
    port,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls } : {}),
    connectTimeout: input.connectTimeoutMs ?? 10_000,
    // Shows up in CLIENT LIST, so operators can tell whose connections these are.
    connectionName: 'certpilot',
    ...input.redisOptions,
  };
  return { options, target: `${tls ? 'rediss' : 'redis'}://${url.host || `${host}:${port}`}/${db}` };
}

/** Imports ioredis (tests pass another `importer`), turning "not installed" into an error that says what to run. */
export async function loadIoredis(importer: () => Promise<unknown> = () => import('ioredis')): Promise<new (options: RedisOptions) => Redis> {
  let mod: { default?: unknown; Redis?: unknown };
  try {
    mod = (await importer()) as { default?: unknown; Redis?: unknown };
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new StoreError(
      'STORE_ERROR',
      missing
        ? 'RedisStore needs the ioredis package, which is not installed: run `npm install ioredis` (an optional peer dependency of certpilot, needed only for certpilot/storage/redis), or pass your own client as `client`.'
        : `RedisStore could not load ioredis: ${scrub(String((error as Error)?.message ?? error))}. Reinstall it with \`npm install ioredis\`.`,
      { details: { package: 'ioredis' } },
    );
  }
  const ctor = (mod.Redis ?? (mod.default as { Redis?: unknown } | undefined)?.Redis ?? mod.default) as unknown;
  if (typeof ctor !== 'function') throw new StoreError('STORE_ERROR', 'RedisStore: the installed ioredis exports no Redis class; install ioredis 5 with `npm install ioredis@5`');
  return ctor as new (options: RedisOptions) => Redis;
}

/**
 * Wraps a client failure. The message keeps the server's reason (ECONNREFUSED,
 * NOAUTH, OOM …) but not the client's error object: ioredis attaches the
 * command and its arguments to errors, and those arguments are our values —
 * private keys among them. Credentials are never in the target.
 */
export function redisError(operation: string, key: string | undefined, target: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const raw = error instanceof Error ? error.message : String(error);
  const reason = scrub(raw.split('\n')[0]!.slice(0, 300));
  const name = error instanceof Error ? error.name : 'Error';
  const what = key === undefined ? operation : `${operation} "${key}"`;
  return new StoreError('STORE_ERROR', `Redis store at ${target}: could not ${what}: ${reason}${hint(raw)}`, {
    retryable: !/^(WRONGPASS|NOAUTH|NOPERM|WRONGTYPE)/.test(raw),
    details: { store: 'redis', operation, ...(key === undefined ? {} : { key }), errorName: name },
  });
}

/** Runs a MULTI; resolves to the replies, rejecting with the first failed command's error. */
export async function exec(multi: { exec(): Promise<Array<[Error | null, unknown]> | null> }): Promise<unknown[]> {
  let replies;
  try {
    replies = await multi.exec();
  } catch (error) {
    // EXECABORT hides the reason (NOPERM, OOM, …) in previousErrors.
    throw (error as { previousErrors?: Error[] }).previousErrors?.[0] ?? error;
  }
  if (!replies) throw new Error('the transaction was aborted');
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
}

/** What to do about the common failures, so the message is actionable. */
function hint(reason: string): string {
  if (/^(WRONGPASS|NOAUTH)/.test(reason)) return ' (check `username` and `password`; the ACL user must exist and be enabled)';
  if (/^NOPERM/.test(reason)) return ' (the ACL user lacks a permission: see "ACL" in docs/fleets.md for the keys, channel and commands it needs)';
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|no answer within/.test(reason)) return ' (is the server running and reachable? ioredis keeps reconnecting in the background)';
  return '';
}

/** Rejects with `onTimeout()` when `promise` has not settled after `ms` (a command queued while Redis is down waits forever otherwise). */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
