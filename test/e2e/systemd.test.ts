/**
 * The rendered units run as systemd would run them (docs/operations/running.md#run-it-under-systemd),
 * without systemd: each unit's ExecStart as written, with `$CREDENTIALS_DIRECTORY` filled from its
 * `LoadCredential=` lines the way systemd fills it, and the key files themselves moved away — the
 * locker chain (NGINX stamping natively → Evidence Locker verifying) probes green on keys read from
 * the credentials only. `systemctl reload` (SIGHUP to gateway run) reloads NGINX and keeps it serving.
 */
import { after, before, describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { cliInvocation, spawnManaged, waitUntil, type ManagedProcess } from '../../src/io/process.js';
import { freePorts } from '../../src/deploy/prepare.js';
import { renderUnit } from '../../src/deploy/systemd.js';
import type { DeploymentPart } from '../../src/topology/credentials.js';
import { probeTopology } from '../../src/probes/probe.js';
import { loadTopology } from '../../src/topology/load.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';
import { EXAMPLES } from '../support/chain.js';

const START_TIMEOUT_MS = 60_000;
const settings = (unit: string, key: string): string[] => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('units run the way systemd runs them', () => {
  const dir = tempDir('stella-systemd-');
  const topologyFile = join(dir.path, 'topology.yaml');
  const parts: ManagedProcess[] = [];
  let topology: ResolvedTopology;
  let gateway: ManagedProcess;

  before(async () => {
    requireProgram('nginx');
    const document = parse(readFileSync(join(EXAMPLES, 'topology-two-edges.yaml'), 'utf8')) as { hops: { listen: string }[]; services: { listen: string }[] };
    const listeners = [...document.hops, ...document.services];
    const ports = await freePorts(listeners.length);
    listeners.forEach((entry, i) => (entry.listen = `127.0.0.1:${ports[i]}`));
    writeFileSync(topologyFile, stringify(document));
    const { command, args } = cliInvocation(['pki', 'bootstrap', '--topology', topologyFile]);
    const bootstrap = spawnSync(command, args, { encoding: 'utf8' });
    assert.equal(bootstrap.status, 0, bootstrap.stderr);
    topology = await loadTopology(topologyFile, { credentialsDirectory: undefined });
  });
  after(async () => {
    await Promise.all(parts.map((p) => p.stop()));
    dir.remove();
  });

  /** A unit and the credentials folder systemd would fill from its LoadCredential= lines. */
  function prepareUnit(part: DeploymentPart): { unit: string; credentials: string; sources: string[] } {
    const unit = renderUnit(topology, part, { topologyFile, exec: '/usr/bin/stella-gateway' });
    const credentials = join(dir.path, 'credentials', part.id);
    mkdirSync(credentials, { recursive: true, mode: 0o700 });
    const sources: string[] = [];
    for (const line of settings(unit, 'LoadCredential')) {
      const [name, source] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)];
      copyFileSync(source, join(credentials, name));
      chmodSync(join(credentials, name), 0o400);
      sources.push(source);
    }
    return { unit, credentials, sources };
  }

  /** Starts a unit's ExecStart as written: the CLI is this checkout's, /var/lib/stella the test folder's. */
  async function startUnit(part: DeploymentPart, prepared: { unit: string; credentials: string }, ready: string): Promise<ManagedProcess> {
    const argv = settings(prepared.unit, 'ExecStart')[0]!.split(' ').map((w) => w.replace('/var/lib/stella/', `${dir.path}/state/`));
    const { command, args } = cliInvocation(argv.slice(1));
    const proc = spawnManaged(part.id, command, args, { logFile: join(dir.path, `${part.id}.log`), env: { ...process.env, CREDENTIALS_DIRECTORY: prepared.credentials } });
    parts.push(proc);
    await waitUntil(proc, async () => readFileSync(proc.logFile, 'utf8').includes(ready), START_TIMEOUT_MS, `${part.kind} ${part.id}`);
    return proc;
  }

  it('serves and stamps with the keys of $CREDENTIALS_DIRECTORY alone, and probes green', async () => {
    const lockerPart: DeploymentPart = { kind: 'service', id: 'evidence-locker' };
    const edgePart: DeploymentPart = { kind: 'gateway', id: 'gw-locker-edge' };
    const locker = prepareUnit(lockerPart);
    const edge = prepareUnit(edgePart);
    assert.ok(locker.sources.length >= 2 && edge.sources.length === 1, `${locker.sources} / ${edge.sources}`);
    // Gone from where the topology names them: only the credentials hold the keys now.
    for (const file of new Set([...locker.sources, ...edge.sources])) renameSync(file, `${file}.moved`);
    await startUnit(lockerPart, locker, 'evidence-locker listening on');
    gateway = await startUnit(edgePart, edge, 'gw-locker-edge (nginx, pid');
    const result = await probeTopology(topology, { scannerId: 'scanner-01', timeoutMs: 3_000 });
    assert.ok(result.ok, JSON.stringify(result.rows, null, 2));
    assert.match(JSON.stringify(result.rows), /provenance verified over 1 stamping hops/);
  });

  it('reloads the gateway on SIGHUP (ExecReload) and keeps it serving', async () => {
    const reloadLine = settings(renderUnit(topology, { kind: 'gateway', id: 'gw-locker-edge' }, { topologyFile }), 'ExecReload')[0];
    assert.equal(reloadLine, '/bin/kill -HUP $MAINPID');
    process.kill(gateway.pid, 'SIGHUP');
    await waitUntil(gateway, async () => readFileSync(gateway.logFile, 'utf8').includes('gw-locker-edge: SIGHUP, reloaded'), START_TIMEOUT_MS, 'the SIGHUP reload');
    assert.equal(gateway.hasExited(), false);
    const result = await probeTopology(topology, { scannerId: 'scanner-01', timeoutMs: 3_000 });
    assert.ok(result.ok, JSON.stringify(result.rows, null, 2));
  });
});
