/**
 * Raw acme-client peer (child process, see ./worker.ts): `client.auto()` as its
 * README shows it, with what a user must add to run it against Pebble +
 * challtestsrv and nothing more:
 * - `skipChallengeVerification: true` (its own check asks the system resolver,
 *   which knows nothing of challtestsrv);
 * - `backoffMin: 25` (the default 5000 ms first poll would dominate; 25 ms is
 *   certpilot's first poll delay, so both poll alike);
 * - ECDSA P-256 account and certificate keys (its defaults are RSA 2048;
 *   certpilot, lego and certbot use P-256 here, and the key type decides much of the CPU);
 * - trust for Pebble's test CA through this client only: its `http.request`
 *   (not in the published types) gets an `httpsAgent` with that CA. acme-client's
 *   process-wide axios instance is not touched.
 */
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import acme from 'acme-client';
import { runWorker, type WorkerConfig } from './worker.js';

const config = JSON.parse(process.env.BENCH_WORKER ?? '') as WorkerConfig;
// keepAlive as Node 20's global agent (what axios uses when no agent is given).
const agent = new https.Agent({ keepAlive: true, ca: await readFile(config.caPath, 'utf8') });

const client = new acme.Client({
  directoryUrl: config.directoryUrl,
  accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
  backoffMin: 25,
});
type Request = (url: string, method: string, opts?: Record<string, unknown>) => Promise<unknown>;
const http = (client as unknown as { http: { request: Request } }).http;
const request = http.request.bind(http);
http.request = (url, method, opts = {}) => request(url, method, { ...opts, httpsAgent: agent });

/**
 * TXT values per host. auto() handles the apex and the wildcard authorization (same host) on their
 * own, and challtestsrv's /clear-txt drops every value of a host: clearing when the apex is done
 * could pull the wildcard's record while Pebble checks it. So a host is cleared only when its last
 * value goes (the other value lingers a few milliseconds; harmless).
 */
const txt = new Map<string, string[]>();
async function post(path: string, host: string, value?: string): Promise<void> {
  const res = await fetch(`${config.managementUrl}/${path}`, { method: 'POST', body: JSON.stringify({ host, value }) });
  if (!res.ok) throw new Error(`challtestsrv ${path} answered ${res.status}`);
}
const hostOf = (authz: { identifier: { value: string } }) => `_acme-challenge.${authz.identifier.value}.`;

await runWorker(async (apex, mark) => {
  const [, csr] = await acme.crypto.createCsr({ commonName: apex, altNames: [apex, `*.${apex}`] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
  const chain = await client.auto({
    csr,
    email: 'bench@example.test',
    termsOfServiceAgreed: true,
    challengePriority: ['dns-01'],
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, _challenge, value) => {
      const host = hostOf(authz);
      txt.set(host, [...(txt.get(host) ?? []), value]);
      await post('set-txt', host, value);
      mark('presented');
    },
    challengeRemoveFn: async (authz, _challenge, value) => {
      const host = hostOf(authz);
      const rest = (txt.get(host) ?? []).filter((v) => v !== value);
      if (rest.length) {
        txt.set(host, rest);
      } else {
        txt.delete(host);
        await post('clear-txt', host);
      }
      mark('cleaned');
    },
  });
  return chain;
}, async () => { agent.destroy(); });
