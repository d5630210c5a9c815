/**
 * The rendered systemd units: every unit of every example topology passes `systemd-analyze verify`
 * (the real analyzer; no systemd runs here, verify reads files), each carries the restart policy,
 * its own account, the hardening and exactly the keys its part loads, and the shipped copy under
 * devops/systemd/ is what the renderer writes today.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deploymentParts, renderSystemdUnits, renderUnit, unitName } from '../../src/deploy/systemd.js';
import { credentialsOfPart } from '../../src/topology/credentials.js';
import { loadTopology } from '../../src/topology/load.js';
import type { ResolvedTopology } from '../../src/topology/resolve.js';
import { cliInvocation } from '../../src/io/process.js';
import { requireProgram } from '../support/programs.js';
import { tempDir } from '../support/tmp.js';
import { SYSTEMD_VARIANTS, renderSystemdExample, systemdVariantDir } from '../../scripts/render-systemd-examples.js';

const EXAMPLES = ['topology.yaml', 'topology-two-edges.yaml', 'topology-caddy.yaml', 'topology-envoy.yaml', 'topology-registry.yaml'];
/** verify needs ExecStart to exist and be executable: this checkout's CLI. */
const EXEC = resolve('bin/stella-gateway.js');
const load = (example: string): Promise<ResolvedTopology> => loadTopology(join('examples', example), { credentialsDirectory: undefined });

/** Runs `systemd-analyze verify` on unit files; any output is a finding (it warns with exit 0). */
function verify(analyze: string, dir: string, files: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(analyze, ['verify', '--man=no', ...files], { cwd: dir, encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** The values of a setting in a unit's text. */
const settings = (unit: string, key: string): string[] => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('systemd render', () => {
  let analyze: string;
  const dir = tempDir('stella-units-');
  before(() => {
    analyze = requireProgram('systemd-analyze');
  });
  after(() => dir.remove());

  for (const example of EXAMPLES) {
    it(`renders units for ${example} that systemd-analyze verify accepts without a word`, async () => {
      const topology = await load(example);
      const out = join(dir.path, example);
      const files = renderSystemdUnits(topology, { topologyFile: resolve('examples', example), exec: EXEC });
      mkdirSync(join(out, 'sysusers.d'), { recursive: true });
      for (const f of files) writeFileSync(join(out, f.path), f.contents);
      const units = files.map((f) => f.path).filter((p) => p.endsWith('.service'));
      assert.equal(units.length, deploymentParts(topology).length);
      const result = verify(analyze, out, units.map((u) => `./${u}`));
      assert.equal(result.output, '');
      assert.equal(result.status, 0);
    });
  }

  it('is checked for real: verify reports a bad setting and a missing program', async () => {
    const topology = await load('topology-two-edges.yaml');
    const part = deploymentParts(topology)[0]!;
    const bad = join(dir.path, 'bad.service');
    writeFileSync(bad, renderUnit(topology, part, { topologyFile: '/etc/stella/topology.yaml', exec: EXEC }).replace('Restart=on-failure', 'Restart=sometimes'));
    assert.match(verify(analyze, dir.path, ['./bad.service']).output, /restart specifier/);
    writeFileSync(bad, renderUnit(topology, part, { topologyFile: '/etc/stella/topology.yaml', exec: '/nonexistent/stella-gateway' }));
    const missing = verify(analyze, dir.path, ['./bad.service']);
    assert.notEqual(missing.status, 0);
    assert.match(missing.output, /not executable/);
  });

  it('gives every unit the restart policy, an account, the hardening, and a reload only where SIGHUP reloads', async () => {
    for (const example of EXAMPLES) {
      const topology = await load(example);
      for (const part of deploymentParts(topology)) {
        const unit = renderUnit(topology, part, { topologyFile: '/etc/stella/topology.yaml' });
        const name = `${example}: ${unitName(part, topology)}`;
        assert.deepEqual(settings(unit, 'Restart'), ['on-failure'], name);
        for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes']]) assert.deepEqual(settings(unit, key!), [value], `${name} ${key}`);
        const user = settings(unit, 'User');
        // Root only with a bounded capability set: Apache's parent, a stamper handing its socket over.
        if (user.length === 0) assert.ok(part.kind === 'gateway' || part.kind === 'stamper', `${name} runs as root`);
        else assert.deepEqual(user, ['stella'], name);
        assert.equal(settings(unit, 'CapabilityBoundingSet').length, 1, name);
        assert.deepEqual(settings(unit, 'ExecReload'), part.kind === 'gateway' ? ['/bin/kill -HUP $MAINPID'] : [], name);
        assert.ok(settings(unit, 'ExecStart')[0]!.startsWith('/usr/bin/stella-gateway '), name);
      }
    }
  });

  it('loads, as credentials, exactly the keys each part reads: a service only the MAC keys of its own chain', async () => {
    const topology = await load('topology-two-edges.yaml');
    const credentials = (kind: 'service' | 'gateway' | 'scanner', id: string) => settings(renderUnit(topology, { kind, id }, { topologyFile: '/t.yaml' }), 'LoadCredential');
    assert.deepEqual(credentials('service', 'evidence-locker'), [
      `mac.gw-locker-edge.locker-edge-2026-12:${resolve('examples/keys/gw-locker-edge.key')}`,
      `signing.scanner-02.scanner-02-hmac:${resolve('examples/keys/scanner-02.hmac')}`,
      `receipt.evidence-locker:${resolve('examples/keys/evidence-locker-receipt.pem')}`,
    ]);
    assert.deepEqual(credentials('gateway', 'gw-webservice-edge'), [`mac.gw-webservice-edge.webservice-edge-2026-12:${resolve('examples/keys/gw-webservice-edge.key')}`]);
    assert.deepEqual(credentials('scanner', 'scanner-01'), [`signing.scanner-01.scanner-01-ed25519:${resolve('examples/keys/scanner-01.pem')}`]);
    // A forward-auth gateway holds no key: its stamper does.
    const caddy = await load('topology-caddy.yaml');
    const edge = caddy.hops.find((h) => h.kind === 'caddy')!;
    assert.deepEqual(credentialsOfPart(caddy, { kind: 'gateway', id: edge.id }), []);
    assert.ok(credentialsOfPart(caddy, { kind: 'stamper', id: edge.id }).length > 0);
  });

  for (const variant of SYSTEMD_VARIANTS) {
    it(`ships devops/systemd/${variant.name} as the renderer writes it today`, async () => {
      const rendered = await renderSystemdExample(variant.topology);
      const shipped = systemdVariantDir(variant.name);
      assert.deepEqual(readdirSync(shipped, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(shipped.length + 1)).sort(), rendered.map((f) => f.path).sort());
      for (const f of rendered) assert.equal(readFileSync(join(shipped, f.path), 'utf8'), f.contents, `${f.path} is stale: run node --import tsx scripts/render-systemd-examples.ts`);
    });
  }

  it('refuses a relative --exec with exit 2 and one line', () => {
    const { command, args } = cliInvocation(['systemd', 'render', '--topology', 'examples/topology.yaml', '--out', join(dir.path, 'x'), '--exec', 'stella-gateway']);
    const result = spawnSync(command, args, { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.equal(result.stderr, 'stella-gateway systemd render: --exec must be an absolute path, got "stella-gateway"\n');
  });
});
