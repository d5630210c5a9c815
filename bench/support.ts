/**
 * The shared benchmark harness (docs/faults.md: "measured as ratios in one run").
 *
 * Absolute ops/s depend on the machine and on whatever else it runs; the figure that means
 * something is the ratio of a function to its baseline measured in the SAME process, in
 * interleaved rounds, so both see the same CPU frequency, cache and neighbour noise. Each bench
 * module under bench/ exports `name` and `run(): Promise<BenchResult>`; bench/run.ts runs them.
 */
import { arch, cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';

/** One measured comparison: a subject against its baseline. */
export interface BenchRow {
  /** What was measured, e.g. `verify ed25519 1 KiB`. */
  case: string;
  opsPerSecond: number;
  baselineOpsPerSecond: number;
  /** Median of per-round ratios subject/baseline: 1.0 = as fast as the baseline. */
  ratio: number;
  rounds: number;
  /** Further figures (e.g. `peakRssPerPayload`). */
  extra?: Record<string, number | string>;
}

/** The machine a result was measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1-minute load average when the result was taken: how busy the shared machine was. */
  loadAverage1m?: number;
}

/** What a bench module's `run()` resolves to; bench/run.ts stores it as JSON. */
export interface BenchResult {
  name: string;
  /** What the subject and baseline are, in one or two sentences (shown above the table). */
  description: string;
  date: string;
  machine: MachineInfo;
  rows: BenchRow[];
  notes?: string[];
  /** Fault-suite figures (bench/results/faults.json, written by test/faults); `rows` is then empty. */
  faults?: FaultFigure[];
}

/** One fault test's outcome (test/faults): counts, not ratios, and whether its target held. */
export interface FaultFigure {
  /** What was done, e.g. `SIGKILL during ingest`. */
  case: string;
  /** The target, e.g. `acknowledged-but-lost = 0`. */
  target: string;
  met: boolean;
  /** The counts (cases, trials, failures, …). */
  figures: Record<string, number | string>;
  date: string;
  loadAverage1m: number;
}

/** A bench module. */
export interface BenchModule {
  name: string;
  run(): Promise<BenchResult>;
}

/** Options of {@link compare}. */
export interface CompareOptions {
  /** Interleaved rounds per side (default 7). */
  rounds?: number;
  /** Target duration of one side of one round (default 150 ms). */
  roundMs?: number;
  /** Warm-up time per side before measuring (default 100 ms). */
  warmupMs?: number;
}

export const DEFAULT_ROUNDS = 7;
export const DEFAULT_ROUND_MS = 150;
export const DEFAULT_WARMUP_MS = 100;

type Task = () => unknown;

/**
 * Measures `subject` and `baseline` in interleaved rounds (A B, then B A, …, so neither side
 * always runs first) and reports both medians and the median of the per-round ratios.
 * Both functions are awaited, so an async API pays its promise cost and a sync baseline the same
 * tick: the ratio is the API's overhead over the primitive.
 */
export async function compare(caseName: string, subject: Task, baseline: Task, options: CompareOptions = {}): Promise<BenchRow> {
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  const roundMs = options.roundMs ?? DEFAULT_ROUND_MS;
  const warmupMs = options.warmupMs ?? DEFAULT_WARMUP_MS;
  await runFor(subject, warmupMs);
  await runFor(baseline, warmupMs);
  const subjectBatch = await batchSize(subject, roundMs);
  const baselineBatch = await batchSize(baseline, roundMs);
  const subjectRates: number[] = [];
  const baselineRates: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order: [Task, number, number[]][] = [
      [subject, subjectBatch, subjectRates],
      [baseline, baselineBatch, baselineRates],
    ];
    if (round % 2 === 1) order.reverse();
    for (const [task, batch, rates] of order) rates.push(await opsPerSecond(task, batch));
    ratios.push((subjectRates.at(-1) ?? 0) / (baselineRates.at(-1) ?? 1));
  }
  return { case: caseName, opsPerSecond: median(subjectRates), baselineOpsPerSecond: median(baselineRates), ratio: median(ratios), rounds };
}

/** Facts about this machine for the results table. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: (list[0]?.model ?? 'unknown').trim(),
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 10) / 10,
  };
}

/** Free memory now, for benches that need to decide whether a large case fits. */
export function freeMemoryBytes(): number {
  return freemem();
}

/** The middle value (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function opsPerSecond(task: Task, batch: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batch; i++) await task();
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return (batch * 1e9) / Math.max(elapsedNs, 1);
}

/** How many calls fill about `roundMs` (at least one). */
async function batchSize(task: Task, roundMs: number): Promise<number> {
  let batch = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await task();
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (elapsedMs >= roundMs / 4 || batch >= 1 << 24) return Math.max(1, Math.round((batch * roundMs) / Math.max(elapsedMs, 1e-3)));
    batch *= 4;
  }
}

async function runFor(task: Task, ms: number): Promise<void> {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  do await task();
  while (process.hrtime.bigint() < end);
}
