import { execFile, spawn } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import https from 'node:https';
import net from 'node:net';
import { promisify } from 'node:util';
import acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBind, type Bind } from '../helpers/bind.js';
import { httpsGet, startPebble, type Pebble } from '../helpers/pebble.js';
import { startRedis, type Redis } from '../helpers/redis.js';

const run = promisify(execFile);

function resolverFor(server: string): Resolver {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([server]);
  return resolver;
}

/** One DNS-01 issuance with acme-client, trusting only Pebble's test CA (per client, nothing process-wide). */
async function issue(
  pebble: Pebble,
  domains: string[],
  setTxt: (host: string, value: string) => Promise<void>,
  eab?: { kid: string; hmacKey: string },
): Promise<{ cert: string; client: acme.Client }> {
  const client = new acme.Client({
    directoryUrl: pebble.directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey(),
    backoffMin: 20,
    backoffMax: 200,
    ...(eab ? { externalAccountBinding: eab } : {}),
  });
  const http = (client as unknown as { http: { request: (u: string, m: string, o?: object) => Promise<unknown> } }).http;
  const agent = new https.Agent({ ca: pebble.caPem });
  const request = http.request.bind(http);
  http.request = (url, method, opts = {}) => request(url, method, { ...opts, httpsAgent: agent });
  const [, csr] = await acme.crypto.createCsr({ commonName: domains[0]!, altNames: domains });
  const cert = await client.auto({
    csr,
    termsOfServiceAgreed: true,
    challengePriority: ['dns-01'],
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, _challenge, keyAuthorization) => {
      await setTxt(`_acme-challenge.${authz.identifier.value}.`, keyAuthorization);
    },
    challengeRemoveFn: async () => {},
  });
  return { cert, client };
}

async function nsupdate(bind: Bind, commands: string[], keyFile = bind.keyFile): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('/usr/bin/nsupdate', ['-k', keyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nsupdate exited ${code}: ${output}`))));
    child.stdin.end([`server 127.0.0.1 ${bind.port}`, ...commands, 'send', ''].join('\n'));
  });
}

describe('pebble + challtestsrv', () => {
  let pebble: Pebble;
  beforeAll(async () => { pebble = await startPebble(); });
  afterAll(async () => { await pebble?.stop(); });

  it('serves the directory over HTTPS trusted through the test CA only', async () => {
    const res = await httpsGet(pebble.directoryUrl, pebble.caPem);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ newOrder: expect.stringContaining('https://127.0.0.1:') });
    await expect(new Promise((resolve, reject) => https.get(pebble.directoryUrl, resolve).on('error', reject)))
      .rejects.toThrow(/certificate/i);
  });

  it('exposes the root and intermediate of this run', async () => {
    const root = new X509Certificate(await pebble.rootPem());
    const intermediate = new X509Certificate(await pebble.intermediatePem());
    expect(root.ca).toBe(true);
    expect(root.subject).toMatch(/Pebble Root CA/);
    expect(intermediate.checkIssued(root)).toBe(true);
  });

  it('publishes challtestsrv TXT records that dig and node:dns both see', async () => {
    const cts = pebble.challtestsrv!;
    const host = '_acme-challenge.probe.example.test.';
    const value = randomBytes(12).toString('base64url');
    const res = await fetch(`${cts.managementUrl}/set-txt`, { method: 'POST', body: JSON.stringify({ host, value }) });
    expect(res.ok).toBe(true);
    expect(await resolverFor(pebble.dnsServer).resolveTxt(host)).toEqual([[value]]);
    const { stdout } = await run('/usr/bin/dig', ['+short', '-p', String(cts.dnsPort), '@127.0.0.1', host, 'TXT']);
    expect(stdout.trim()).toBe(`"${value}"`);
  });

  it('issues, counts orders, reports status and revocation', async () => {
    const cts = pebble.challtestsrv!;
    const before = pebble.orderCount();
    const { cert, client } = await issue(pebble, ['a.example.test', 'b.example.test'], async (host, value) => {
      await fetch(`${cts.managementUrl}/set-txt`, { method: 'POST', body: JSON.stringify({ host, value }) });
    });
    expect(pebble.orderCount()).toBe(before + 1);
    expect(pebble.newOrderRequests()).toBe(before + 1);
    const leaf = new X509Certificate(cert);
    const serial = leaf.serialNumber.toLowerCase();
    expect(pebble.issuedSerials()).toContain(serial.replace(/^0+/, ''));
    expect(leaf.checkIssued(new X509Certificate(await pebble.intermediatePem()))).toBe(true);
    expect(await pebble.certStatus(serial)).toMatchObject({ Status: 'Valid' });
    await client.revokeCertificate(cert, { reason: 1 });
    expect(await pebble.certStatus(serial)).toMatchObject({ Status: 'Revoked', Reason: 1 });
  });
});

describe('pebble options', () => {
  let pebble: Pebble;
  const kid = 'kid-1';
  const hmacKey = randomBytes(32).toString('base64url');
  beforeAll(async () => {
    pebble = await startPebble({ externalAccountBindingRequired: true, externalAccountMACKeys: { [kid]: hmacKey }, certificateValidityPeriod: 60 });
  });
  afterAll(async () => { await pebble?.stop(); });

  it('requires EAB and issues short-lived certificates', async () => {
    const dir = JSON.parse((await httpsGet(pebble.directoryUrl, pebble.caPem)).body) as { meta: { externalAccountRequired: boolean } };
    expect(dir.meta.externalAccountRequired).toBe(true);
    const cts = pebble.challtestsrv!;
    const setTxt = async (host: string, value: string) => {
      await fetch(`${cts.managementUrl}/set-txt`, { method: 'POST', body: JSON.stringify({ host, value }) });
    };
    await expect(issue(pebble, ['noeab.example.test'], setTxt)).rejects.toThrow(/externalAccountBinding/);
    const { cert } = await issue(pebble, ['eab.example.test'], setTxt, { kid, hmacKey });
    const leaf = new X509Certificate(cert);
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(lifetime).toBeLessThanOrEqual(61_000);
  });
});

describe('pebble nonce rejection', () => {
  let pebble: Pebble;
  beforeAll(async () => { pebble = await startPebble({ nonceRejectPercent: 50 }); });
  afterAll(async () => { await pebble?.stop(); });

  it('counts created orders apart from rejected newOrder requests', async () => {
    const cts = pebble.challtestsrv!;
    let issued = 0;
    for (let i = 0; i < 4; i++) {
      await issue(pebble, [`n${i}.example.test`], async (host, value) => {
        await fetch(`${cts.managementUrl}/set-txt`, { method: 'POST', body: JSON.stringify({ host, value }) });
      }).then(() => { issued++; }, () => {});
    }
    // A client can give up on a rejected nonce after Pebble issued (e.g. while downloading): issued ≥ succeeded.
    expect(pebble.issuedSerials().length).toBeGreaterThanOrEqual(issued);
    expect(pebble.issuedSerials().length).toBeLessThanOrEqual(pebble.orderCount());
    expect(pebble.orderCount()).toBeGreaterThanOrEqual(issued);
    expect(pebble.newOrderRequests()).toBeGreaterThanOrEqual(pebble.orderCount());
    expect(pebble.output()).toMatch(/reject 50% of good nonces/);
  });
});

describe('BIND', () => {
  let bind: Bind;
  let pebble: Pebble;
  beforeAll(async () => {
    bind = await startBind({ zones: ['example.test.', 'other.test'] });
    pebble = await startPebble({ dnsServer: bind.server });
  });
  afterAll(async () => { await pebble?.stop(); await bind?.stop(); });

  it('answers SOA for every zone', async () => {
    const resolver = resolverFor(bind.server);
    expect(await resolver.resolveSoa('example.test')).toMatchObject({ nsname: 'ns.example.test', hostmaster: 'hostmaster.example.test' });
    expect(await resolver.resolveSoa('other.test')).toMatchObject({ nsname: 'ns.other.test' });
    expect(await resolver.resolve4('example.test')).toEqual(['127.0.0.1']);
  });

  it('accepts TSIG-signed TXT updates and refuses other types', async () => {
    const name = '_acme-challenge.www.example.test.';
    await nsupdate(bind, ['zone example.test.', `update add ${name} 60 IN TXT "one"`, `update add ${name} 60 IN TXT "two"`]);
    const values = (await resolverFor(bind.server).resolveTxt(name)).map((v) => v.join('')).sort();
    expect(values).toEqual(['one', 'two']);
    await expect(nsupdate(bind, ['zone example.test.', 'update add evil.example.test. 60 IN A 10.0.0.1'])).rejects.toThrow(/REFUSED/);
  });

  it('lets Pebble validate against it', async () => {
    const { cert } = await issue(pebble, ['bind.example.test'], (host, value) =>
      nsupdate(bind, ['zone example.test.', `update add ${host} 60 IN TXT "${value}"`]));
    expect(new X509Certificate(cert).subjectAltName).toBe('DNS:bind.example.test');
    expect(pebble.challtestsrv).toBeUndefined();
    expect(pebble.dnsServer).toBe(bind.server);
  });
});

describe('redis', () => {
  let redis: Redis;
  beforeAll(async () => { redis = await startRedis(); });
  afterAll(async () => { await redis?.stop(); });

  const send = (command: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(redis.port, '127.0.0.1', () => socket.write(command));
      socket.once('data', (data) => { socket.destroy(); resolve(data.toString()); });
      socket.once('error', reject);
    });

  it('answers PING and loses data on restart', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await send('PING\r\n')).toBe('+PONG\r\n');
    expect(await send('SET k v\r\n')).toBe('+OK\r\n');
    await redis.restart();
    expect(await send('GET k\r\n')).toBe('$-1\r\n');
  });
});

/** True while `pid` exists and is not a zombie (an orphaned zombie may linger when PID 1 does not reap). */
function isRunning(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('process hygiene', () => {
  it('kills services of a test process that dies by SIGKILL', async () => {
    const script = `import { startService } from './test/helpers/process.ts';
      const s = startService('/bin/sleep', ['300']); console.log(s.process.pid);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = Number(await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
    expect(isRunning(pid)).toBe(true);
    child.kill('SIGKILL');
    const deadline = Date.now() + 5000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      alive = isRunning(pid);
    }
    expect(alive).toBe(false);
  });
});
