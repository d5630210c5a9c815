/**
 * Closed-loop HTTP load for the network benches (locker, chain): a fixed list of prepared
 * requests is sent by N concurrent callers (each on its own keep-alive connection of an undici
 * Agent), and subject and baseline alternate in rounds in the same process, so both see the same
 * machine load (docs/faults.md: ratios measured in one run). Preparing a round's requests (signing,
 * stamping) happens before its clock starts.
 */
import { median, type BenchRow } from './support.js';

/** One prepared request: sends it and resolves when the answer is read; throws on a wrong status. */
export type Shot = () => Promise<void>;

/** Prepares `count` fresh requests of one side (not timed). */
export type Prepare = (count: number) => Promise<Shot[]>;

/** Options of {@link compareLoad}. */
export interface LoadOptions {
  /** Interleaved rounds per side (default 5). */
  rounds?: number;
  /** Requests per side per round (default 400). */
  requestsPerRound?: number;
  /** Concurrent callers (default 8). */
  concurrency?: number;
  /** Requests per side before measuring (default 100). */
  warmupRequests?: number;
}

/** What one side did in one round. */
export interface RoundFigures {
  opsPerSecond: number;
  latenciesMs: number[];
}

/** Sends every shot with `concurrency` callers; returns the rate and each request's latency. */
export async function fire(shots: readonly Shot[], concurrency: number): Promise<RoundFigures> {
  const latenciesMs: number[] = [];
  let next = 0;
  const caller = async (): Promise<void> => {
    while (next < shots.length) {
      const shot = shots[next++]!;
      const start = process.hrtime.bigint();
      await shot();
      latenciesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(concurrency, shots.length) }, caller));
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { opsPerSecond: (shots.length * 1e9) / Math.max(elapsedNs, 1), latenciesMs };
}

/** The p-th percentile (nearest rank) of values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * Subject against baseline under load, in alternating rounds (A B, B A, …). The row's ratio is the
 * median of per-round throughput ratios; `extra` holds latency percentiles over all rounds.
 */
export async function compareLoad(caseName: string, subject: Prepare, baseline: Prepare, options: LoadOptions = {}): Promise<BenchRow> {
  const rounds = options.rounds ?? 5;
  const perRound = options.requestsPerRound ?? 400;
  const concurrency = options.concurrency ?? 8;
  const warmup = options.warmupRequests ?? 100;
  await fire(await subject(warmup), concurrency);
  await fire(await baseline(warmup), concurrency);
  const sides = { subject: { prepare: subject, rates: [] as number[], latencies: [] as number[] }, baseline: { prepare: baseline, rates: [] as number[], latencies: [] as number[] } };
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [sides.subject, sides.baseline] : [sides.baseline, sides.subject];
    for (const side of order) {
      const shots = await side.prepare(perRound);
      const figures = await fire(shots, concurrency);
      side.rates.push(figures.opsPerSecond);
      side.latencies.push(...figures.latenciesMs);
    }
    ratios.push(sides.subject.rates.at(-1)! / sides.baseline.rates.at(-1)!);
  }
  return {
    case: caseName,
    opsPerSecond: median(sides.subject.rates),
    baselineOpsPerSecond: median(sides.baseline.rates),
    ratio: median(ratios),
    rounds,
    extra: {
      concurrency,
      p50Ms: percentile(sides.subject.latencies, 50),
      p99Ms: percentile(sides.subject.latencies, 99),
      baselineP50Ms: percentile(sides.baseline.latencies, 50),
      baselineP99Ms: percentile(sides.baseline.latencies, 99),
      addedP50Ms: percentile(sides.subject.latencies, 50) - percentile(sides.baseline.latencies, 50),
    },
  };
}
