/**
 * Where the fault suite records its figures (SPEC §11: "with the figures in the README"): each
 * test writes its own file under bench/results/faults.d/, then bench/results/faults.json (all of
 * them) and bench/RESULTS.md are regenerated, as `npm run bench` does for the benches.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { renderResults } from '../../../bench/report.js';
import { machineInfo, type BenchResult, type FaultFigure } from '../../../bench/support.js';

const RESULTS_DIR = join(import.meta.dirname, '..', '..', '..', 'bench', 'results');
const FAULTS_DIR = join(RESULTS_DIR, 'faults.d');

function writeAtomic(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** Records one fault test's figure and regenerates faults.json and RESULTS.md. */
export function recordFault(figure: Omit<FaultFigure, 'date' | 'loadAverage1m'>): void {
  mkdirSync(FAULTS_DIR, { recursive: true });
  const full: FaultFigure = { ...figure, date: new Date().toISOString(), loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10 };
  const slug = figure.case.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  writeAtomic(join(FAULTS_DIR, `${slug}.json`), `${JSON.stringify(full, null, 2)}\n`);
  const faults = readdirSync(FAULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(FAULTS_DIR, f), 'utf8')) as FaultFigure);
  const result: BenchResult = {
    name: 'faults',
    description: 'The fault suite (`node scripts/run-tests.mjs --only faults`, test/faults/, described in docs/faults.md): counts from its latest run of each test. A test fails when its target does not hold, so a "no" here is a failing test.',
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
}
