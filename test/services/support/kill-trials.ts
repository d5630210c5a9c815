/**
 * The kill -9 experiment of the locker's durability tests (docs/services.md: acknowledged means
 * durable), shared by the envelope and the artifact variants: a real locker in a child process
 * (./locker-child.ts, real SQLite file) is SIGKILLed at a moment the variant chooses while senders
 * stream requests, then started again on the same file; the variant checks the file afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateKey, parseKeyFile } from '../../../src/dsse/index.js';
import type { ResolvedTopology } from '../../../src/topology/resolve.js';
import { serviceTopology, testKeys, type TestKeys } from './fixture.js';
import type { ChildConfig } from './locker-child.js';

/** The child locker, run from source through tsx's loader (named by URL: the cwd may be anywhere). */
const CHILD = join(import.meta.dirname, 'locker-child.ts');

/** What the senders and the checks of a variant need. */
export interface KillWorld {
  readonly keys: TestKeys;
  readonly topology: ResolvedTopology;
  /** The locker's SQLite file, kept across kills. */
  readonly dbFile: string;
  readonly configFile: string;
}

/** Keys, topology and the child's config file under `dir`. */
export function killWorld(dir: string): KillWorld {
  const keys = testKeys();
  const topology = serviceTopology('evidence-locker');
  const dbFile = join(dir, 'evidence.db');
  const receipt = generateKey('ed25519');
  keys.receiptPublic = parseKeyFile(Buffer.from(receipt.public!));
  const config: ChildConfig = {
    dbFile,
    hopKeys: Object.fromEntries([...keys.hopKeys].map(([hop, ring]) => [hop, Object.fromEntries([...ring].map(([kid, key]) => [kid, key.toString('base64')]))])),
    scannerSecret: keys.scanner.type === 'secret' ? keys.scanner.secret.toString('base64') : '',
    receiptPrivatePem: receipt.private,
    receiptPublicPem: receipt.public!,
  };
  const configFile = join(dir, 'child.json');
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  return { keys, topology, dbFile, configFile };
}

/** Starts the child locker and waits for its `listening <port>` line. */
async function startChild(configFile: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`locker child exited early with ${code}`)));
    lines.on('line', (line) => {
      const match = /^listening (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
  });
  return { child, port };
}

/** One sender's view of the running child. */
export interface SendTurn {
  readonly port: number;
  readonly trial: number;
  /** Which of the parallel senders. */
  readonly sender: number;
  /** The sender's request count within this trial. */
  readonly i: number;
}

/**
 * Runs `trials` kills: each starts the child, runs `senders` loops calling `send` until the kill,
 * waits for `killWhen(trial)` (the variant's moment), SIGKILLs the child and waits for every
 * sender to notice. `send` must not throw for a connection the kill cut; an assertion it throws
 * fails the experiment.
 */
export async function runKillTrials(options: {
  world: KillWorld;
  trials: number;
  senders: number;
  send: (turn: SendTurn) => Promise<void>;
  killWhen: (trial: number) => Promise<void>;
}): Promise<void> {
  for (let trial = 0; trial < options.trials; trial++) {
    const { child, port } = await startChild(options.world.configFile);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let alive = true;
    const sender = async (n: number): Promise<void> => {
      for (let i = 0; alive; i++) await options.send({ port, trial, sender: n, i });
    };
    const senders = Array.from({ length: options.senders }, (_, n) => sender(n));
    await options.killWhen(trial);
    child.kill('SIGKILL');
    await exited;
    alive = false;
    await Promise.all(senders);
  }
}
