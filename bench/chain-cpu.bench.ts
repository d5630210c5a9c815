/**
 * Where a chained request's CPU goes (bench/README.md#where-a-chained-request-spends-its-cpu): the
 * same GET /healthz/traversal requests as the chain bench, through each chain and straight to its
 * locker, with the CPU time every program of the deployment spent meanwhile (bench/process-cpu.ts)
 * divided by the requests. On a machine where every hop and the locker share the same cores, the
 * chain's throughput against direct is bounded by this ratio of CPU per request, whatever the
 * latencies.
 */
import { loadavg } from 'node:os';
import { direct, TRAVERSAL, viaChain } from './chain.bench.js';
import { withBenchChains, type Target } from './deployments.js';
import { fire, type Prepare } from './load.js';
import { cpuSpent, programCpuSeconds } from './process-cpu.js';
import { machineInfo, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/chain-cpu.json). */
export const name = 'chain-cpu';

const ROUNDS = 3;
const REQUESTS_PER_ROUND = 600;
const CONCURRENCY = 8;

interface Phase {
  requests: number;
  seconds: number;
  cpu: Map<string, number>;
}

/** Sends one round of requests and reads what every program of the deployment spent on them. */
async function phase(t: Target, prepare: Prepare, into: Phase): Promise<void> {
  const shots = await prepare(REQUESTS_PER_ROUND);
  const before = programCpuSeconds(t.chain.workDir);
  const client = process.cpuUsage();
  const started = process.hrtime.bigint();
  await fire(shots, CONCURRENCY);
  into.seconds += Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(client);
  const spent = cpuSpent(before, programCpuSeconds(t.chain.workDir));
  spent.set('client', (used.user + used.system) / 1e6);
  for (const [program, seconds] of spent) into.cpu.set(program, (into.cpu.get(program) ?? 0) + seconds);
  into.requests += shots.length;
}

function msPerRequest(p: Phase, program: string): number {
  return ((p.cpu.get(program) ?? 0) * 1000) / p.requests;
}

function totalMs(p: Phase): number {
  return ([...p.cpu.values()].reduce((a, b) => a + b, 0) * 1000) / p.requests;
}

/** The row of one chain: CPU per request through it against straight to its locker, per program. */
function cpuRow(t: Target, chained: Phase, straight: Phase): BenchRow {
  const extra: Record<string, number> = { chainCpuMsPerRequest: totalMs(chained), directCpuMsPerRequest: totalMs(straight) };
  for (const program of ['nginx', 'caddy', 'stamper', 'apache', 'haproxy', 'locker', 'client']) if (chained.cpu.has(program)) extra[`${program}Ms`] = msPerRequest(chained, program);
  extra.directLockerMs = msPerRequest(straight, 'locker');
  extra.directClientMs = msPerRequest(straight, 'client');
  return {
    case: `${t.label} vs direct: CPU per request, GET traversal, ${CONCURRENCY} conns`,
    opsPerSecond: chained.requests / chained.seconds,
    baselineOpsPerSecond: straight.requests / straight.seconds,
    ratio: totalMs(straight) / totalMs(chained),
    rounds: ROUNDS,
    extra,
  };
}

/** Starts the three deployments, measures each, stops them. */
export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const rows: BenchRow[] = [];
  await withBenchChains('cpu', async ({ reference, noWaf, caddy }) => {
    for (const t of [reference, noWaf, caddy]) {
      const chained: Phase = { requests: 0, seconds: 0, cpu: new Map() };
      const straight: Phase = { requests: 0, seconds: 0, cpu: new Map() };
      await fire(await viaChain(t, 'GET', TRAVERSAL)(100), CONCURRENCY); // warm-up: JIT, pools, TLS sessions
      await fire(await direct(t, 'GET', TRAVERSAL)(100), CONCURRENCY);
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which side goes first, as compareLoad does.
        const sides: [Prepare, Phase][] = [[viaChain(t, 'GET', TRAVERSAL), chained], [direct(t, 'GET', TRAVERSAL), straight]];
        if (round % 2 === 1) sides.reverse();
        for (const [prepare, into] of sides) await phase(t, prepare, into);
      }
      rows.push(cpuRow(t, chained, straight));
    }
  });
  return {
    name,
    description:
      'CPU time per request of every program of a deployment (user + system, from /proc; the load generator as `client`), for GET /healthz/traversal through the chain named against the same requests straight to its locker. Ratio = direct CPU ÷ chain CPU per request: on shared cores the chain\'s throughput against direct cannot exceed it. Columns `<program>Ms` are CPU ms per chained request.',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    notes: [
      'Every program runs on the same 2 cores as the load generator; CPU time is what each spent, whatever the others did, so these figures move far less with load than the rates do.',
      `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
    ],
  };
}
