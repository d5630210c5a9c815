/**
 * What the forward-auth stamper costs in CPU per stamp, and how that depends on the request rate
 * (bench/README.md#where-a-chained-request-spends-its-cpu): the product's stamper (`answerStamp`
 * behind `node:http` on a Unix socket, a decision log line per stamp, as `stella-gateway stamper`
 * runs it; child bench/stamper-server.ts) against a bare `node:http` handler in the same kind of
 * child answering a fixed 200, both driven by undici over 8 kept-alive connections the way a
 * gateway's forward-auth pool is. Once flat out, once paced to about the rate the Caddy chain
 * bench reaches (~600 requests/s), where each request wakes an idle process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { initPki, issueCertificate } from '../src/pki/index.js';
import { contentDigestOf } from '../src/provenance/digest.js';
import { NOW_MS } from '../test/provenance/support/fixture.js';
import { machineInfo, median, type BenchResult, type BenchRow } from './support.js';

/** The bench's name (bench/results/stamper-cpu.json). */
export const name = 'stamper-cpu';

const ROUNDS = 3;
const CONNECTIONS = 8;

interface Server {
  child: ChildProcess;
  pool: Pool;
}

async function startServer(mode: 'stamper' | 'bare', dir: string): Promise<Server> {
  const socket = join(dir, `${mode}.sock`);
  const child = fork(join(import.meta.dirname, 'stamper-server.ts'), [mode, socket, join(dir, `${mode}.log`)], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`stamper-server ${mode} exited with ${code}`)));
  });
  return { child, pool: new Pool('http://localhost', { socketPath: socket, connections: CONNECTIONS }) };
}

/** Asks the child to start counting (answered once it has), or for the CPU µs spent since. */
function ask(child: ChildProcess, message: 'mark' | 'cpu'): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { cpuMicros: number }).cpuMicros));
    child.send(message);
  });
}

/** One round: `count` requests over the pool, each worker pausing `paceMs` after each; returns server CPU µs per request and the rate. */
async function round(server: Server, headers: Record<string, string>, count: number, paceMs: number): Promise<{ cpuMicros: number; perSecond: number }> {
  await ask(server.child, 'mark');
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      for (let i = 0; i < count / CONNECTIONS; i++) {
        const answer = await server.pool.request({ method: 'GET', path: '/stamp', headers });
        await answer.body.dump();
        // A refusal or an empty stamp must not pass as a cheap one.
        if (answer.statusCode !== 200 || !answer.headers['x-stella-provenance']) throw new Error(`stamper-cpu: answer ${answer.statusCode} without a stamp`);
        if (paceMs > 0) await sleep(paceMs);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { cpuMicros: (await ask(server.child, 'cpu')) / count, perSecond: count / seconds };
}

export async function run(): Promise<BenchResult> {
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'stella-bench-stamper-'));
  const servers: Server[] = [];
  try {
    // The scanner certificate a gateway passes on (RFC 9440 form), from a real PKI, valid at the fixture's clock.
    const clock = (): Date => new Date(NOW_MS - 60_000);
    await initPki({ dir: join(dir, 'pki'), clock });
    const pem = (await issueCertificate({ dir: join(dir, 'pki'), role: 'scanner', name: 'scanner-01', clock })).certPem;
    const headers = {
      'x-stella-scan-id': 'scan-0001',
      'content-digest': contentDigestOf(Buffer.from('{"a":1}')),
      'x-original-method': 'POST',
      'x-original-uri': '/api/v1/evidence',
      'client-cert': `:${new X509Certificate(pem).raw.toString('base64')}:`,
      'x-request-id': '4f1c0e9a2b7d4c3e8f6a1b2c3d4e5f60',
    };
    const stamper = await startServer('stamper', dir);
    servers.push(stamper);
    const bare = await startServer('bare', dir);
    servers.push(bare);
    // JIT and caches warm in both, as in a stamper that has run a while.
    await round(stamper, headers, 4000, 0);
    await round(bare, headers, 4000, 0);

    const rows: BenchRow[] = [];
    for (const [label, count, paceMs] of [['flat out', 12_000, 0], ['paced, each connection pausing 12 ms (~600 requests/s)', 2_400, 12]] as const) {
      const s: { cpuMicros: number; perSecond: number }[] = [];
      const b: { cpuMicros: number; perSecond: number }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        // Alternating order, so a burst of neighbour load does not land on one side only.
        if (i % 2 === 0) {
          s.push(await round(stamper, headers, count, paceMs));
          b.push(await round(bare, headers, count, paceMs));
        } else {
          b.push(await round(bare, headers, count, paceMs));
          s.push(await round(stamper, headers, count, paceMs));
        }
      }
      rows.push({
        case: `stamper vs bare node:http handler, ${label}, ${CONNECTIONS} conns`,
        opsPerSecond: median(s.map((x) => x.perSecond)),
        baselineOpsPerSecond: median(b.map((x) => x.perSecond)),
        ratio: median(s.map((x, i) => b[i]!.cpuMicros / x.cpuMicros)),
        rounds: ROUNDS,
        extra: { stamperCpuUsPerRequest: Number(median(s.map((x) => x.cpuMicros)).toFixed(1)), bareCpuUsPerRequest: Number(median(b.map((x) => x.cpuMicros)).toFixed(1)) },
      });
    }
    return {
      name,
      description:
        'Server CPU time (user + system, all threads, from process.cpuUsage in the child) per request of the forward-auth stamper (answerStamp on node:http over a Unix socket, with its decision log line) vs a bare node:http handler answering a fixed 200, both driven over 8 kept-alive undici connections. Ratio = bare CPU ÷ stamper CPU per request. Flat out, and paced to about the rate of the Caddy chain bench, where every request wakes an idle process.',
      date: new Date().toISOString(),
      machine: machineInfo(),
      rows,
      notes: [
        'The chain-cpu bench measures the same stamper process inside the Caddy chain (its stamperMs column), where five other programs share the two cores.',
        `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
      ],
    };
  } finally {
    for (const s of servers) {
      await s.pool.close();
      s.child.kill();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
