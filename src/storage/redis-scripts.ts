/**
 * The two Lua scripts behind {@link RedisStore} leases. Both compare the
 * lock's value with the caller's token and act only on a match, in one
 * atomic step on the server — the check-then-act race a GET followed by a
 * DEL would have (deleting a lock another owner just took over) cannot happen.
 *
 * Scripts name every key they touch in KEYS, as Dragonfly (and Redis
 * Cluster) require. They run through EVALSHA with an EVAL fallback rather
 * than ioredis' `defineCommand`, so a client the user passed in is never
 * modified, and a server that restarted (and forgot its script cache) is
 * handled the same way.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

/** A Lua script and its SHA-1, as EVALSHA wants it. */
export interface LuaScript {
  source: string;
  sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** KEYS[1] = lock key, ARGV[1] = token, ARGV[2] = new TTL in ms. Returns 1 when renewed, 0 when not ours. */
export const RENEW_LOCK = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`);

/** KEYS[1] = lock key, ARGV[1] = token. Returns 1 when deleted, 0 when not ours (nothing deleted). */
export const RELEASE_LOCK = script(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`);

/** Runs `lua` with EVALSHA, falling back to EVAL when the server does not have it cached (`NOSCRIPT`). */
export async function runScript(client: RedisClient, lua: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
    return client.eval(lua.source, keys.length, ...keys, ...args);
  }
}
