/**
 * The HAProxy renderer against the real `haproxy -c`, on the example topology and HAProxy as the
 * edge, with a real test PKI; and the key-environment helper the runtime calls.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  GatewayFilesError,
  HAPROXY_KEY_ENV,
  haproxyKeyEnvironment,
  haproxyProgram,
  prepareHaproxyHop,
  renderHaproxyHop,
} from '../../../src/gateways/haproxy/index.js';
import type { ResolvedHop } from '../../../src/topology/resolve.js';
import type { TopologyInput } from '../../../src/topology/schema.js';
import { deploymentsPerTest, type Deployment } from '../support/deployment.js';
import { runCheck, writeRendered } from '../support/run.js';

const { deploy, hop } = deploymentsPerTest(afterEach);

/** The example with HAProxy as the edge, straight in front of the service. */
function haproxyEdge(doc: TopologyInput): void {
  const edge = doc.hops[0];
  if (!edge) throw new Error('the example has an edge');
  doc.hops = [{ ...edge, kind: 'haproxy', next: 'evidence-locker' }];
}

async function renderPrepareCheck(deployment: Deployment, id: string, env?: Record<string, string>): Promise<{ config: string; code: number; output: string }> {
  const outDir = join(deployment.dir, 'out');
  const files = renderHaproxyHop(deployment.topology, hop(deployment, id), { outDir });
  assert.deepEqual(files.map((f) => f.path), [`${id}/haproxy.cfg`]);
  writeRendered(outDir, files);
  const hopDir = join(outDir, id);
  const realEnv = await prepareHaproxyHop(hopDir, hop(deployment, id));
  const invocation = haproxyProgram.check(hopDir, hop(deployment, id));
  const result = await runCheck(env ? { ...invocation, env } : invocation, env ?? realEnv);
  return { config: files[0]?.contents ?? '', ...result };
}

describe('renderHaproxyHop', () => {
  it('renders the example internal hop and haproxy -c accepts it', async () => {
    const deployment = await deploy();
    const { config, code, output } = await renderPrepareCheck(deployment, 'gw-internal');
    assert.equal(code, 0, output);
    assert.match(config, /deny deny_status 403 unless \{ ssl_c_s_dn\(CN\) -m str waf \} \{ ssl_c_s_dn\(OU,1\) -m str gateway \} !\{ ssl_c_s_dn\(OU,2\) -m found \}$/m, 'admits only the WAF, as a gateway');
    // docs/gateways/haproxy.md "Sessions": no tickets on the bind, no session cache.
    assert.match(config, /^\s+bind .* verify required no-tls-tickets /m);
    assert.match(config, /^\s+tune\.ssl\.cachesize 0$/m);
    assert.match(config, /stella-provenance-v1\|gw-internal\|2\|/);
    assert.ok(!/del-header X-Stella-Provenance/.test(config), 'a later hop keeps the incoming chain');
  });

  it('renders HAProxy as the edge, stripping the client provenance first, and haproxy -c accepts it', async () => {
    const deployment = await deploy(haproxyEdge);
    const { config, code, output } = await renderPrepareCheck(deployment, 'gw-edge');
    assert.equal(code, 0, output);
    const rules = config.split('\n').filter((l) => l.trim().startsWith('http-request'));
    assert.equal(rules[0]?.trim(), 'http-request del-header X-Stella-Provenance', 'rule 1 comes before anything else');
    assert.match(config, /ssl_c_s_dn\(CN\) -m str scanner-01 scanner-02 \} \{ ssl_c_s_dn\(OU,1\) -m str scanner \}/, 'admits the scanners, as scanners');
    assert.match(config, /stella-provenance-v1\|gw-edge\|1\|/);
    assert.ok(!config.includes('stella_prev_mac'), 'seq 1 has no chain field to extract');
    assert.match(config, /\|%\[req\.fhdr\(content-digest\)\]\|'$/m, 'the MAC input of seq 1 ends with an empty chain field');
  });

  it('refuses to start without the key variable', async () => {
    const deployment = await deploy();
    const { code, output } = await renderPrepareCheck(deployment, 'gw-internal', {});
    assert.notEqual(code, 0);
    assert.match(output, new RegExp(`${HAPROXY_KEY_ENV} must hold the base64 MAC key of hop gw-internal`));
  });

  it('keeps the key out of the config and reads it from the environment', async () => {
    const deployment = await deploy();
    const files = renderHaproxyHop(deployment.topology, hop(deployment, 'gw-internal'), { outDir: '/srv/out' });
    const key = readFileSync(join(deployment.dir, 'keys/gw-internal.key'), 'utf8').trim();
    assert.ok(!files[0]?.contents.includes(key));
    assert.match(files[0]?.contents ?? '', new RegExp(`set-var proc.stella_hmac_key env\\(${HAPROXY_KEY_ENV}\\)`));
  });

  it('refuses forward-auth, since HAProxy stamps natively', async () => {
    const deployment = await deploy();
    const internal = hop(deployment, 'gw-internal');
    if (internal.stamp === false) throw new Error('gw-internal stamps in the example');
    const forward: ResolvedHop = { ...internal, stamp: { ...internal.stamp, via: 'forward-auth', stamper: { listen: '127.0.0.1:7001' } } };
    assert.throws(() => renderHaproxyHop(deployment.topology, forward, { outDir: '/srv/out' }), TypeError);
  });
});

describe('haproxyKeyEnvironment', () => {
  it('gives the last key of the rotation as padded standard base64', async () => {
    const deployment = await deploy((doc) => {
      const internal = doc.hops[2];
      if (internal?.stamp) (internal.stamp.keys ??= []).push({ kid: 'internal-2026-12', file: './keys/gw-internal-next.key' });
    });
    const secret = deployment.macKeys.get('internal-2026-12');
    assert.ok(secret);
    // The URL-safe alphabet and surrounding whitespace are accepted (docs/CONVENTIONS.md "Key files"),
    // exactly as the verifiers' keyring reads the same file.
    const urlSafe = secret.toString('base64url');
    writeFileSync(join(deployment.dir, 'keys/gw-internal-next.key'), `  ${urlSafe}\n`);
    const env = await haproxyKeyEnvironment(hop(deployment, 'gw-internal'));
    assert.deepEqual(env, { [HAPROXY_KEY_ENV]: secret.toString('base64') });
  });

  it('rejects a key shorter than 32 bytes with a stable code', async () => {
    const deployment = await deploy();
    writeFileSync(join(deployment.dir, 'keys/gw-internal.key'), Buffer.alloc(31).toString('base64'));
    await assert.rejects(haproxyKeyEnvironment(hop(deployment, 'gw-internal')), (error: unknown) =>
      error instanceof GatewayFilesError && error.code === 'GATEWAY_FILES_INVALID' && /at least 32/.test(error.message));
  });

  it('rejects a key file that is not base64 text', async () => {
    const deployment = await deploy();
    writeFileSync(join(deployment.dir, 'keys/gw-internal.key'), `${'A'.repeat(40)}*${'A'.repeat(3)}`);
    await assert.rejects(haproxyKeyEnvironment(hop(deployment, 'gw-internal')), (error: unknown) =>
      error instanceof GatewayFilesError && error.code === 'GATEWAY_FILES_INVALID' && /not base64/.test(error.message));
  });

  it('needs nothing for an opaque hop', async () => {
    const deployment = await deploy();
    assert.deepEqual(await haproxyKeyEnvironment(hop(deployment, 'waf')), {});
  });
});
