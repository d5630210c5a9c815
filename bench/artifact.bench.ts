/**
 * Artifact ingest (docs/services.md#artifacts): `POST /api/v1/artifacts/{sha256}` of a fresh
 * artifact to a real locker process (provenance checks, binding to a stored statement, durable
 * chunked SQLite write) vs writing the same bytes to a file on the same disk with fsync; and the
 * locker's peak RSS growth per artifact byte while it ingests one (Linux high-water mark, reset
 * right before the upload).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { generateKey } from '../src/dsse/index.js';
import { serviceTopology, sha256Hex, signedEnvelope, stamp, testKeys, type TestKeys } from '../test/services/support/fixture.js';
import { tempDir } from '../test/support/tmp.js';
import type { ArtifactLockerConfig } from './artifact-locker.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

export const name = 'artifact';

const MIB = 1024 * 1024;
const SIZES_MIB = [16, 64];
const ROUNDS = 3;

interface Child {
  process: ChildProcess;
  port: number;
  ask(line: string, prefix: string): Promise<number>;
}

async function startChild(configFile: string): Promise<Child> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', import.meta.resolve('tsx'), join(import.meta.dirname, 'artifact-locker.ts'), configFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Interface = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = (): Promise<string> => new Promise((resolve) => waiting.push(resolve));
  const first = await next();
  const port = Number(/^listening (\d+)$/.exec(first)?.[1]);
  if (!port) throw new Error(`artifact-locker: ${first}`);
  return {
    process: child,
    port,
    async ask(line, prefix) {
      const answer = next();
      child.stdin!.write(`${line}\n`);
      const text = await answer;
      if (!text.startsWith(`${prefix} `)) throw new Error(`artifact-locker answered ${text}`);
      return Number(text.slice(prefix.length + 1));
    },
  };
}

/** Stamps a request as the chain would (hashing the body for Content-Digest) and returns its sender, so timing starts after that. */
function prepare(port: number, keys: TestKeys, url: string, scanId: string, body: Buffer, contentType: string): () => Promise<number> {
  const request = stamp(serviceTopology('evidence-locker'), keys, { method: 'POST', url, scanId, body, nowMs: Date.now(), contentType });
  return async () => {
    const response = await fetch(`http://127.0.0.1:${port}${url}`, { method: 'POST', headers: request.headers, body });
    await response.arrayBuffer();
    return response.status;
  };
}

export async function run(): Promise<BenchResult> {
  const dir = tempDir('stella-artifact-bench-');
  const keys = testKeys();
  const receipt = generateKey('ed25519');
  const config: ArtifactLockerConfig = {
    dbFile: join(dir.path, 'evidence.db'),
    maxArtifactBytes: (Math.max(...SIZES_MIB) + 1) * MIB,
    hopKeys: Object.fromEntries([...keys.hopKeys].map(([hop, ring]) => [hop, Object.fromEntries([...ring].map(([kid, key]) => [kid, key.toString('base64')]))])),
    scannerSecret: keys.scanner.type === 'secret' ? keys.scanner.secret.toString('base64') : '',
    receiptPrivatePem: receipt.private,
  };
  const configFile = join(dir.path, 'child.json');
  writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
  const child = await startChild(configFile);
  const rows: BenchRow[] = [];
  try {
    // One upload before the measured ones, so the peak RSS rows show the upload, not the process's
    // first route compilation, JIT and SQLite page cache filling up.
    const warmBytes = randomBytes(MIB);
    if ((await prepare(child.port, keys, '/api/v1/evidence', 'bench-warm', await signedEnvelope(keys, { scanId: 'bench-warm', nowMs: Date.now(), artifactBytes: warmBytes }), 'application/json')()) !== 201) throw new Error('statement refused');
    if ((await prepare(child.port, keys, `/api/v1/artifacts/${sha256Hex(warmBytes)}`, 'bench-warm', warmBytes, 'application/octet-stream')()) !== 201) throw new Error('warm-up upload refused');
    for (const sizeMiB of SIZES_MIB) {
      const ratios: number[] = [];
      const subjectMs: number[] = [];
      const baselineMs: number[] = [];
      const growth: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const bytes = randomBytes(sizeMiB * MIB);
        const scanId = `bench-${sizeMiB}-${round}`;
        const statement = prepare(child.port, keys, '/api/v1/evidence', scanId, await signedEnvelope(keys, { scanId, nowMs: Date.now(), artifactBytes: bytes }), 'application/json');
        if ((await statement()) !== 201) throw new Error('statement refused');
        const upload = prepare(child.port, keys, `/api/v1/artifacts/${sha256Hex(bytes)}`, scanId, bytes, 'application/octet-stream');
        await child.ask('reset', 'ok');
        let started = performance.now();
        const status = await upload();
        const subject = performance.now() - started;
        if (status !== 201) throw new Error(`artifact upload answered ${status}`);
        growth.push(await child.ask('peak', 'peak'));
        // Baseline: the same bytes to a file beside the database, fsynced, as the store's commit is.
        const file = join(dir.path, `baseline-${round}.bin`);
        started = performance.now();
        const fd = openSync(file, 'w');
        for (let offset = 0; offset < bytes.length; offset += MIB) writeSync(fd, bytes, offset, Math.min(MIB, bytes.length - offset));
        fsyncSync(fd);
        closeSync(fd);
        const baseline = performance.now() - started;
        unlinkSync(file);
        subjectMs.push(subject);
        baselineMs.push(baseline);
        ratios.push(baseline / subject);
      }
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const bytes = sizeMiB * MIB;
      rows.push({
        case: `POST artifact ${sizeMiB} MiB vs write+fsync`,
        opsPerSecond: 1000 / median(subjectMs),
        baselineOpsPerSecond: 1000 / median(baselineMs),
        ratio: median(ratios),
        rounds: ROUNDS,
        extra: {
          MiBPerSecond: Number((sizeMiB / (median(subjectMs) / 1000)).toFixed(1)),
          baselineMiBPerSecond: Number((sizeMiB / (median(baselineMs) / 1000)).toFixed(1)),
          peakRssGrowthPerArtifactByte: Number((Math.max(...growth) / bytes).toFixed(2)),
        },
      });
    }
  } finally {
    child.process.stdin!.end();
    child.process.kill('SIGTERM');
    await new Promise((resolve) => child.process.once('exit', resolve));
    dir.remove();
  }
  return {
    name,
    description:
      'Subject: POST /api/v1/artifacts/{sha256} of a fresh random artifact to a real locker process over HTTP (provenance checks, binding to the stored statement, chunked SQLite write, fsync before 201). Baseline: the same bytes written to a file in the same folder and fsynced. peakRssGrowthPerArtifactByte: how far the locker process\'s RSS high-water mark rose during the upload, per artifact byte (target < 3).',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    notes: [
      'The upload streams into the store (docs/services.md#artifacts): each 1 MiB chunk is hashed once and written as it arrives, under an upload id, and one small commit makes it the artifact. Nothing holds the whole artifact.',
      'The store dominates: SQLite writes every byte twice (into the WAL, then the checkpoint copies it into the database file, every 1000 pages by default) in 4 KiB overflow pages; the baseline writes once, sequentially. Measured apart on this machine: 64 MiB of chunk inserts took ~1.5 s with the default checkpointing and ~0.4-0.7 s with checkpoints held back (wal_autocheckpoint); that knob is left at its default, as it would let the WAL grow by the size of the largest upload for every write of the file.',
      'Peak RSS growth is roughly constant (~20-35 MiB: socket read buffers awaiting garbage collection, one reused 1 MiB chunk buffer, the SQLite page cache), so per artifact byte it falls as the artifact grows: far under the 3x target at 64 MiB. One warm-up upload runs first, so the rows do not count the process\'s first route compilation.',
      'Before streaming (the previous figures of this row): 0.03-0.09 of write+fsync, 1.5x the artifact in peak RSS at 64 MiB, the body hashed three times.',
    ],
  };
}
