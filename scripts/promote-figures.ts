/**
 * Promotes the fault figures of the latest test run (git-ignored `bench/results/unpromoted/faults.d/`)
 * to the committed `bench/results/faults.d/`, then regenerates `bench/results/faults.json` and
 * `bench/RESULTS.md` — the deliberate step between running the tests and committing figures.
 *   npm run figures:promote
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderResults } from '../bench/report.js';
import { machineInfo, type BenchResult, type FaultFigure } from '../bench/support.js';
import { UNPROMOTED_FAULTS_DIR } from '../test/faults/support/figures.js';

const RESULTS_DIR = join(import.meta.dirname, '..', 'bench', 'results');
const FAULTS_DIR = join(RESULTS_DIR, 'faults.d');

function writeAtomic(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

const fresh = existsSync(UNPROMOTED_FAULTS_DIR) ? readdirSync(UNPROMOTED_FAULTS_DIR).filter((f) => f.endsWith('.json')) : [];
if (fresh.length === 0) {
  console.error('figures:promote: no figures in bench/results/unpromoted/faults.d; run the tests first (node scripts/run-tests.mjs)');
  process.exit(1);
}
mkdirSync(FAULTS_DIR, { recursive: true });
for (const file of fresh) copyFileSync(join(UNPROMOTED_FAULTS_DIR, file), join(FAULTS_DIR, file));
const faults = readdirSync(FAULTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(FAULTS_DIR, f), 'utf8')) as FaultFigure);
const result: BenchResult = {
  name: 'faults',
  description:
    'The fault suite and the fault figures of the E2E suite (docs/faults.md): counts from the latest promoted run of each test. A test fails when its target does not hold, so a "no" here is a failing test.',
  date: new Date().toISOString(),
  machine: machineInfo(),
  rows: [],
  faults,
};
writeAtomic(join(RESULTS_DIR, 'faults.json'), `${JSON.stringify(result, null, 2)}\n`);
const all = readdirSync(RESULTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchResult);
writeAtomic(join(RESULTS_DIR, '..', 'RESULTS.md'), renderResults(all));
console.log(`figures:promote: ${fresh.length} figure(s) promoted; bench/results/faults.json and bench/RESULTS.md regenerated`);
