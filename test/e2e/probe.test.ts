/**
 * docs/services.md#health-and-metrics: health probes through the real chain. `probeTopology` reports every hop and the locker
 * OK; with the WAF stopped it reports the WAF and everything behind it as failing, the edge still
 * OK. The CLI `stella-gateway probe` exits 0 when healthy and 1 with a hop down, naming the hop.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cliInvocation } from '../../src/io/process.js';
import { probeTopology, type ProbeResult } from '../../src/probes/probe.js';
import { REFERENCE_TOPOLOGY, startChain, type Chain } from '../support/chain.js';

let chain: Chain;

before(async () => {
  chain = await startChain(REFERENCE_TOPOLOGY);
});
after(async () => {
  await chain?.close();
});

/** Runs `stella-gateway probe --topology <workDir>/topology.yaml` as a child process. */
async function probeCli(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = cliInvocation(['probe', '--topology', join(chain.workDir, 'topology.yaml'), '--timeout-ms', '3000']);
  const child = spawn(cli.command, cli.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}

const statusOf = (result: ProbeResult): Record<string, string> => Object.fromEntries(result.rows.map((r) => [r.id, r.status]));

/** The table line of one part. */
const lineOf = (table: string, id: string): string => table.split('\n').find((l) => l.trimStart().startsWith(`${id} `)) ?? '';

describe('probes through a healthy chain', () => {
  it('reports every hop and the locker OK, each with a latency and a certificate expiry', async () => {
    const result = await probeTopology(chain.topology);
    assert.deepEqual(statusOf(result), { 'gw-edge': 'ok', waf: 'ok', 'gw-internal': 'ok', 'evidence-locker': 'ok' });
    assert.equal(result.ok, true);
    for (const row of result.rows) {
      assert.ok(typeof row.latencyMs === 'number' && row.latencyMs >= 0, `${row.id} latency`);
      assert.ok(row.certificateExpiry && Date.parse(row.certificateExpiry) > Date.now(), `${row.id} certificate expiry`);
    }
  });

  it("runs the locker's full provenance validation: the traversal answer lists both stamping hops", async () => {
    const result = await probeTopology(chain.topology);
    const traversal = JSON.stringify(result.traversal['evidence-locker']);
    for (const id of ['gw-edge', 'gw-internal']) assert.ok(traversal.includes(`"${id}"`), `${id} in ${traversal}`);
  });

  it('the CLI prints the table and exits 0', async () => {
    const run = await probeCli();
    assert.equal(run.code, 0, run.stderr);
    for (const id of ['gw-edge', 'waf', 'gw-internal', 'evidence-locker']) assert.match(lineOf(run.stdout, id), /\bOK\b/, `${id} in\n${run.stdout}`);
  });
});

describe('probes with the WAF stopped', () => {
  before(async () => {
    await chain.deployment.stopGateway('waf');
  });
  after(async () => {
    await chain.deployment.restartGateway('waf');
  });

  it('reports the WAF and every part behind it as failing, the edge still OK', async () => {
    const result = await probeTopology(chain.topology, { timeoutMs: 3_000 });
    assert.equal(result.ok, false);
    assert.deepEqual(statusOf(result), { 'gw-edge': 'ok', waf: 'fail', 'gw-internal': 'fail', 'evidence-locker': 'fail' });
    assert.match(result.rows.find((r) => r.id === 'waf')?.detail ?? '', /no TLS/);
  });

  it('the CLI exits 1 and its table marks the WAF as failing', async () => {
    const run = await probeCli();
    assert.equal(run.code, 1, run.stderr);
    assert.match(lineOf(run.stdout, 'waf'), /\bFAIL\b/, run.stdout);
    assert.match(lineOf(run.stdout, 'gw-edge'), /\bOK\b/, run.stdout);
  });
});

describe('probes after the WAF came back', () => {
  it('report every part OK again', async () => {
    const result = await probeTopology(chain.topology);
    assert.equal(result.ok, true, JSON.stringify(result.rows));
  });
});
