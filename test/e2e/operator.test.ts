/**
 * The operator's path (docs/operations/running.md), with no demo code: a two-edge topology
 * (scanner-01 → NGINX → Evidence Locker, scanner-02 → HAProxy → Scanner WebService) deployed with
 * `pki bootstrap`, `topology validate`, `serve` per service and, per hop, the `run:` line that
 * `gateway render` printed, exactly as printed. `probe` is green with each chain entered by a
 * scanner of its own edge, `--scanner` narrows it, and a stopped hop turns its chain red.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../../src/io/process.js';
import { freePorts } from '../../src/deploy/prepare.js';
import { GATEWAY_RUN_COMMAND } from '../../src/gateways/index.js';
import { probeTopology } from '../../src/probes/probe.js';
import { loadTopology } from '../../src/topology/load.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';
import { EXAMPLES } from '../support/chain.js';

const START_TIMEOUT_MS = 60_000;

/** Runs the CLI to its end. */
function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const invocation = cliInvocation(args);
  const child = spawn(invocation.command, invocation.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Words of a printed command line (the index prints no quoting: paths without spaces). */
function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

const statusOf = (table: string, id: string): string => table.split('\n').find((l) => l.startsWith(`${id} `))?.split(/\s+/)[2] ?? '(no row)';

/** An example topology copied into `dir` with every listener on a free loopback port. */
async function copyOnFreePorts(example: string, topologyFile: string): Promise<void> {
  const document = parse(readFileSync(join(EXAMPLES, example), 'utf8')) as { hops: { listen: string }[]; services: { listen: string }[] };
  const listeners = [...document.hops, ...document.services];
  const ports = await freePorts(listeners.length);
  listeners.forEach((entry, i) => (entry.listen = `127.0.0.1:${ports[i]}`));
  writeFileSync(topologyFile, stringify(document));
}

/** `serve` per service, then each hop by the `run:` line `gateway render` printed for it, as printed. */
async function startByTheGuide(topology: ResolvedTopology, topologyFile: string, dir: string, parts: Map<string, ManagedProcess>): Promise<void> {
  for (const service of topology.services) {
    const invocation = cliInvocation(['serve', '--topology', topologyFile, '--service', service.id]);
    const proc = spawnManaged(service.id, invocation.command, invocation.args, { logFile: join(dir, `${service.id}.log`) });
    parts.set(service.id, proc);
    await waitUntil(proc, async () => readFileSync(proc.logFile, 'utf8').includes(`${service.id} listening on`), START_TIMEOUT_MS, `serve ${service.id}`);
  }
  const gatewaysDir = join(dir, 'gateways');
  const render = await cli(['gateway', 'render', '--topology', topologyFile, '--out', gatewaysDir]);
  assert.equal(render.code, 0, render.stderr);
  const index = readFileSync(join(gatewaysDir, 'README.txt'), 'utf8');
  const runLines = index.split('\n').filter((l) => l.trimStart().startsWith('run:'));
  assert.equal(runLines.length, topology.hops.length, index);
  // From the service outwards, so that each hop finds the one behind it.
  for (const hop of [...topology.hops].reverse()) {
    const line = runLines.find((l) => l.includes(`--hop ${hop.id} `));
    assert.ok(line, `a run line for ${hop.id} in\n${index}`);
    const command = line.trim().slice('run:'.length).trim();
    assert.ok(command.startsWith(`${GATEWAY_RUN_COMMAND} `), command);
    // As printed, with `stella-gateway` being this checkout's CLI.
    const invocation = cliInvocation(words(command).slice(1));
    const proc = spawnManaged(hop.id, invocation.command, invocation.args, { logFile: join(dir, `${hop.id}.log`) });
    parts.set(hop.id, proc);
    await waitUntil(proc, async () => readFileSync(proc.logFile, 'utf8').includes(`${hop.id} (${hop.kind}, pid`), START_TIMEOUT_MS, `gateway run ${hop.id}`);
  }
  await waitUntil(null, async () => (await probeTopology(topology, { timeoutMs: 3_000 })).ok, START_TIMEOUT_MS, 'every part probing green');
}

describe('a two-edge deployment run the way docs/operations/running.md says', () => {
  const dir = tempDir('stella-operator-');
  const topologyFile = join(dir.path, 'topology.yaml');
  const parts = new Map<string, ManagedProcess>();
  let topology: ResolvedTopology;

  before(async () => {
    requireProgram('nginx');
    requireProgram('haproxy');
    await copyOnFreePorts('topology-two-edges.yaml', topologyFile);
  });
  after(async () => {
    await Promise.all([...parts.values()].map((p) => p.stop()));
    dir.remove();
  });

  it('pki bootstrap creates every CA, leaf and key, and keeps them on a second run', async () => {
    const first = await cli(['pki', 'bootstrap', '--topology', topologyFile, '--json']);
    assert.equal(first.code, 0, first.stderr);
    const steps = (JSON.parse(first.stdout) as { steps: { kind: string; subject: string; action: string }[] }).steps;
    assert.deepEqual(
      steps.map((s) => `${s.kind} ${s.subject}`),
      [
        'ca CA of stella.local',
        'leaf scanner scanner-01',
        'leaf scanner scanner-02',
        'leaf gateway gw-locker-edge',
        'leaf gateway gw-webservice-edge',
        'leaf service evidence-locker',
        'leaf service scanner-webservice',
        'key hop gw-locker-edge MAC key locker-edge-2026-12',
        'key hop gw-webservice-edge MAC key webservice-edge-2026-12',
        'key scanner scanner-01 signing key scanner-01-ed25519',
        'key scanner scanner-02 signing key scanner-02-hmac',
        'key service evidence-locker receipt key',
      ],
    );
    assert.ok(steps.every((s) => s.action === 'created'));
    const keyBefore = readFileSync(join(dir.path, 'keys', 'gw-locker-edge.key'), 'utf8');
    const second = await cli(['pki', 'bootstrap', '--topology', topologyFile, '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((JSON.parse(second.stdout) as { steps: { action: string }[] }).steps.every((s) => s.action === 'kept'));
    assert.equal(readFileSync(join(dir.path, 'keys', 'gw-locker-edge.key'), 'utf8'), keyBefore, 'nothing overwritten without --force');
    const validate = await cli(['topology', 'validate', topologyFile]);
    assert.equal(validate.code, 0, validate.stdout + validate.stderr);
    topology = await loadTopology(topologyFile, { checkFiles: true });
  });

  it('serve, and every run: line of gateway render as printed, bring up a deployment that probes green', async () => {
    await startByTheGuide(topology, topologyFile, dir.path, parts);

    const probe = await cli(['probe', '--topology', topologyFile, '--timeout-ms', '3000']);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    for (const id of ['gw-locker-edge', 'gw-webservice-edge', 'evidence-locker', 'scanner-webservice']) assert.equal(statusOf(probe.stdout, id), 'OK', `${id} in\n${probe.stdout}`);
    assert.match(probe.stdout, /gw-webservice-edge .*reached through gw-webservice-edge as scanner-02/);
  });

  it('probe --scanner narrows to the chains of that scanner', async () => {
    const probe = await cli(['probe', '--topology', topologyFile, '--scanner', 'scanner-02', '--json']);
    assert.equal(probe.code, 0, probe.stderr);
    const rows = (JSON.parse(probe.stdout) as { rows: { id: string; status: string }[] }).rows;
    assert.deepEqual(rows.map((r) => `${r.id} ${r.status}`), ['gw-webservice-edge ok', 'scanner-webservice ok']);
  });

  it('a stopped hop turns its chain red and exits 1; the other chain stays green', async () => {
    await parts.get('gw-webservice-edge')!.stop();
    const probe = await cli(['probe', '--topology', topologyFile, '--timeout-ms', '3000']);
    assert.equal(probe.code, 1, probe.stdout + probe.stderr);
    assert.equal(statusOf(probe.stdout, 'gw-webservice-edge'), 'FAIL', probe.stdout);
    assert.equal(statusOf(probe.stdout, 'scanner-webservice'), 'FAIL', probe.stdout);
    assert.equal(statusOf(probe.stdout, 'gw-locker-edge'), 'OK', probe.stdout);
    assert.equal(statusOf(probe.stdout, 'evidence-locker'), 'OK', probe.stdout);
  });
});

describe('the reference chain (NGINX → Apache+ModSecurity WAF → HAProxy) run the same way', () => {
  const dir = tempDir('stella-operator-');
  const topologyFile = join(dir.path, 'topology.yaml');
  const parts = new Map<string, ManagedProcess>();
  after(async () => {
    await Promise.all([...parts.values()].map((p) => p.stop()));
    dir.remove();
  });

  it('comes up from pki bootstrap, serve and the printed run lines, and probes green', async () => {
    for (const program of ['nginx', 'apache2', 'haproxy']) requireProgram(program);
    await copyOnFreePorts('topology.yaml', topologyFile);
    const bootstrap = await cli(['pki', 'bootstrap', '--topology', topologyFile]);
    assert.equal(bootstrap.code, 0, bootstrap.stderr);
    const topology = await loadTopology(topologyFile, { checkFiles: true });
    await startByTheGuide(topology, topologyFile, dir.path, parts);
    const probe = await cli(['probe', '--topology', topologyFile, '--timeout-ms', '3000']);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    for (const id of ['gw-edge', 'waf', 'gw-internal', 'evidence-locker']) assert.equal(statusOf(probe.stdout, id), 'OK', `${id} in\n${probe.stdout}`);
  });
});
