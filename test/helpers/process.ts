import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

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

/** Spawns a long-running service; `stop()` sends SIGTERM then SIGKILL. */
export function startService(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Service {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
