/**
 * Where the fault suite records its figures (docs/faults.md: the figures appear in the README). A test
 * run writes each figure to the git-ignored `bench/results/unpromoted/faults.d/`, so running the
 * tests leaves the checkout clean; `npm run figures:promote` (scripts/promote-figures.ts) is the
 * deliberate step that copies them to the committed `bench/results/faults.d/` and regenerates
 * `bench/results/faults.json` and `bench/RESULTS.md`.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { FaultFigure } from '../../../bench/support.js';

/** The ignored folder a test run writes fault figures to. */
export const UNPROMOTED_FAULTS_DIR = join(import.meta.dirname, '..', '..', '..', 'bench', 'results', 'unpromoted', 'faults.d');

/** The file name of a figure: its case as a slug. */
export function figureFileName(caseName: string): string {
  return `${caseName.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.json`;
}

/** Records one fault test's figure (atomically, so a reader never sees half of one). */
export function recordFault(figure: Omit<FaultFigure, 'date' | 'loadAverage1m'>): void {
  mkdirSync(UNPROMOTED_FAULTS_DIR, { recursive: true });
  const full: FaultFigure = { ...figure, date: new Date().toISOString(), loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10 };
  const file = join(UNPROMOTED_FAULTS_DIR, figureFileName(figure.case));
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(full, null, 2)}\n`);
  renameSync(temp, file);
}
