import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** A child process started by a test, with its output kept for error messages. */
export interface Service {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Fails with a message that says how to install `binary` when it is missing. */
export function requireBinary(binary: string, aptPackage: string): void {
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: install it with \`apt-get install -y ${aptPackage}\` (or run \`npm test\`, which installs it)`);
  }
}

// --- No stray services: every child is killed when this process exits, however it exits. ---

const live = new Set<ChildProcess>();
let reaper: { stdin: Writable } | undefined;

/**
 * A detached watchdog holding the other end of a pipe: when this process dies (even by SIGKILL)
 * the pipe closes and it SIGKILLs every registered child still running the same command.
 */
const REAPER = `const fs=require('fs');const pids=new Map();let buf='';
process.stdin.on('data',(d)=>{buf+=d;let i;while((i=buf.indexOf('\\n'))>=0){const m=JSON.parse(buf.slice(0,i));buf=buf.slice(i+1);
if(m.add)pids.set(m.pid,m.cmd);else pids.delete(m.pid);}});
process.stdin.on('error',()=>{});
process.stdin.on('close',()=>{for(const [pid,cmd] of pids){try{
if(fs.readFileSync('/proc/'+pid+'/cmdline','utf8').split('\\0')[0]===cmd)process.kill(pid,'SIGKILL');}catch{}}process.exit(0);});`;

function track(child: ChildProcess, command: string): void {
  if (child.pid === undefined) return;
  live.add(child);
  if (!reaper) {
    const watchdog = spawn(process.execPath, ['-e', REAPER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
    watchdog.stdin.on('error', () => {});
    reaper = { stdin: watchdog.stdin };
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const pid = child.pid;
  reaper.stdin.write(JSON.stringify({ add: true, pid, cmd: command }) + '\n');
  child.once('exit', () => {
    live.delete(child);
    reaper?.stdin.write(JSON.stringify({ add: false, pid }) + '\n');
  });
}

/**
 * Spawns a long-running service; `stop()` sends SIGTERM then SIGKILL. The child is also killed
 * when the test process exits (normally, by a signal, or by SIGKILL), so none outlives a run.
 */
export function startService(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Service {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child, command);
  let log = '';
  const append = (chunk: Buffer) => { log = (log + chunk.toString()).slice(-20_000); };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return {
    process: child,
    output: () => log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        child.kill('SIGTERM');
      }),
  };
}
