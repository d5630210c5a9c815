/**
 * SIGKILL during ingest (docs/services.md, docs/faults.md). The experiment itself lives with the locker's tests
 * (test/services/locker-durability.test.ts: 20 SIGKILLs of a real locker process while four
 * senders stream ingests; after each restart every 201 must be present, whole, with a verifying
 * receipt, and no row may be partial), and for artifacts in test/services/locker-artifact-durability.test.ts.
 * This fault test runs those files as they are — no second copy of the code — and records their
 * figures with the fault suite's.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { recordFault } from './support/figures.js';

const DURABILITY_TEST = join(import.meta.dirname, '..', 'services', 'locker-durability.test.ts');
const FIGURES = /durability: (\d+) kills, (\d+) attempts, (\d+) acknowledged, (\d+) rows, (\d+) cut in flight/;
const ARTIFACT_DURABILITY_TEST = join(import.meta.dirname, '..', 'services', 'locker-artifact-durability.test.ts');
const ARTIFACT_FIGURES = /artifact durability: (\d+) kills, (\d+) uploads attempted, (\d+) acknowledged, (\d+) stored, (\d+) cut in flight/;

/** Runs one test file in a runner of its own; its exit code and output. */
async function runTestFile(file: string): Promise<{ code: number | null; output: string }> {
  // Without NODE_TEST_CONTEXT, or the child's runner sees itself as nested and runs nothing.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT'));
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, output };
}

describe('SIGKILL during ingest', () => {
  it('loses no acknowledged envelope across 20 kills of a real locker process', { timeout: 300_000 }, async () => {
    const { code, output } = await runTestFile(DURABILITY_TEST);
    const match = FIGURES.exec(output);
    const passed = code === 0 && match !== null;
    const [kills, attempts, acknowledged, rows, cut] = (match?.slice(1) ?? []).map(Number);
    recordFault({
      case: 'SIGKILL during ingest',
      target: 'acknowledged-but-lost = 0 over ≥ 20 kills',
      met: passed && (kills ?? 0) >= 20,
      figures: {
        kills: kills ?? 'n/a',
        attempts: attempts ?? 'n/a',
        acknowledged: acknowledged ?? 'n/a',
        // The durability test fails on the first acknowledged envelope that is missing or damaged.
        acknowledgedButLost: passed ? 0 : 'test failed',
        rowsAfterKills: rows ?? 'n/a',
        cutInFlight: cut ?? 'n/a',
      },
    });
    assert.equal(code, 0, `locker-durability.test.ts failed:\n${output.slice(-4000)}`);
    assert.ok(match, `locker-durability.test.ts printed no figures line:\n${output.slice(-2000)}`);
    assert.ok(kills! >= 20, `only ${kills} kills`);
  });

  it('keeps every acknowledged artifact whole, and none partial, across 10 kills during streamed uploads', { timeout: 300_000 }, async () => {
    const { code, output } = await runTestFile(ARTIFACT_DURABILITY_TEST);
    const match = ARTIFACT_FIGURES.exec(output);
    const passed = code === 0 && match !== null;
    const [kills, attempted, acknowledged, stored, cut] = (match?.slice(1) ?? []).map(Number);
    recordFault({
      case: 'SIGKILL during artifact ingest',
      target: 'acknowledged-but-lost = 0 and partial = 0 over ≥ 10 kills',
      met: passed && (kills ?? 0) >= 10,
      figures: {
        kills: kills ?? 'n/a',
        uploadsAttempted: attempted ?? 'n/a',
        acknowledged: acknowledged ?? 'n/a',
        // The durability test fails on the first acknowledged artifact missing or damaged, and on any partial one.
        acknowledgedButLost: passed ? 0 : 'test failed',
        partialVisible: passed ? 0 : 'test failed',
        storedAfterKills: stored ?? 'n/a',
        cutInFlight: cut ?? 'n/a',
      },
    });
    assert.equal(code, 0, `locker-artifact-durability.test.ts failed:\n${output.slice(-4000)}`);
    assert.ok(match, `locker-artifact-durability.test.ts printed no figures line:\n${output.slice(-2000)}`);
    assert.ok(kills! >= 10, `only ${kills} kills`);
  });
});
