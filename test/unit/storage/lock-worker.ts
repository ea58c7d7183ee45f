/**
 * A separate process for the FileStore cross-process lock tests (run with
 * `node --import tsx`).
 *
 *   contend <directory> <log> <id> <rounds>  print "ready", wait for the file <log>.go, then take
 *                                            the lock `rounds` times; each time append "start",
 *                                            pause, append "end" to <log>
 *   hold <directory> <ttlMs>                 take the lock, print "locked", wait to be killed
 */
import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileStore } from '../../../src/storage/file.js';

const [mode, directory, ...rest] = process.argv.slice(2);
if (!directory) throw new Error('usage: lock-worker.ts contend|hold <directory> …');
const store = new FileStore({ directory });

if (mode === 'contend') {
  const [log, id, rounds] = rest as [string, string, string];
  // Start together: process start-up takes longer than the whole contest.
  process.stdout.write('ready\n');
  while (!existsSync(`${log}.go`)) await sleep(5);
  for (let round = 0; round < Number(rounds); round++) {
    const lock = await store.lock('shared/resource', { ttlMs: 5000, waitMs: 60_000 });
    appendFileSync(log, `start ${id} ${round} ${process.pid}\n`);
    await sleep(2 + Math.random() * 8);
    appendFileSync(log, `end ${id} ${round} ${process.pid}\n`);
    await lock.release();
    await sleep(Math.random() * 10); // give the others a chance between rounds
  }
} else if (mode === 'hold') {
  await store.lock('shared/resource', { ttlMs: Number(rest[0]) });
  process.stdout.write('locked\n');
  setInterval(() => undefined, 1000); // stay alive until killed
} else {
  throw new Error(`unknown mode ${mode}`);
}
