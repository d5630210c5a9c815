/**
 * The HAProxy renderer for provenance v2 (docs/gateways/haproxy.md "Provenance v2") against the
 * real `haproxy -c`, and the v2 key environment the runtime hands it.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  GatewayFilesError,
  HAPROXY_KEY_ENV,
  HAPROXY_V2_KEY_ENV,
  HAPROXY_V2_LUA_FILE,
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

type Stamp = Exclude<TopologyInput['hops'][number]['stamp'], false>;

/**
 * The example with gw-internal stamping `profile` with `alg`, behind an HAProxy edge that stamps
 * both (a v2 member must follow a stamping hop that makes one: validation refuses anything else).
 */
function internalV2(profile: 'v2' | 'both', alg: 'ecdsa-p256-sha256' | 'hmac-sha256' = 'ecdsa-p256-sha256') {
  return (doc: TopologyInput): void => {
    const [edge, , internal] = doc.hops;
    if (!edge || !internal || edge.stamp === false || internal.stamp === false) throw new Error('gw-edge and gw-internal stamp in the example');
    edge.kind = 'haproxy';
    edge.stamp = { ...edge.stamp, profile: 'both', signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'edge-v2-2026-12', file: './keys/gw-edge.v2.pem', publicFile: './keys/gw-edge.v2.pub.pem' }] } };
    const file = alg === 'hmac-sha256' ? './keys/gw-internal.v2.key' : './keys/gw-internal.v2.pem';
    const stamp: Stamp = { via: 'native', profile, signing: { alg, keys: [{ kid: 'internal-v2-2026-12', file, ...(alg === 'hmac-sha256' ? {} : { publicFile: `${file}.pub` }) }] } };
    if (profile === 'both') stamp.keys = internal.stamp.keys;
    internal.stamp = stamp;
  };
}

async function renderAndCheck(deployment: Deployment, env?: Record<string, string>): Promise<{ config: string; lua: string; code: number; output: string }> {
  const outDir = join(deployment.dir, 'out');
  const internal = hop(deployment, 'gw-internal');
  const files = renderHaproxyHop(deployment.topology, internal, { outDir });
  assert.deepEqual(files.map((f) => f.path), ['gw-internal/haproxy.cfg', `gw-internal/${HAPROXY_V2_LUA_FILE}`]);
  writeRendered(outDir, files);
  const hopDir = join(outDir, 'gw-internal');
  const prepared = await prepareHaproxyHop(hopDir, internal);
  const invocation = haproxyProgram.check(hopDir, internal);
  // An explicit environment replaces the invocation's own (its check-only keys) too.
  const result = await runCheck(env ? { ...invocation, env } : invocation, env ?? prepared);
  return { config: files[0]!.contents, lua: files[1]!.contents, ...result };
}

/** The frontend's `http-request` rules, in order. */
const ruleLines = (config: string): string[] =>
  config.slice(config.indexOf('\nfrontend '), config.indexOf('\nbackend ')).split('\n').filter((l) => l.trim().startsWith('http-request')).map((l) => l.trim());

describe('renderHaproxyHop with provenance v2', () => {
  it('renders the Lua action and its rules after the peer variables, and haproxy -c loads it with the real key', async () => {
    const deployment = await deploy(internalV2('v2'));
    const { config, lua, code, output } = await renderAndCheck(deployment);
    assert.equal(code, 0, output);
    assert.match(config, new RegExp(`^\\s+lua-load-per-thread ${join(deployment.dir, 'out', 'gw-internal', HAPROXY_V2_LUA_FILE)}$`, 'm'));
    assert.ok(!config.includes('stella-provenance-v1'), 'profile v2 stamps no v1 record');
    assert.ok(!config.includes(HAPROXY_KEY_ENV), 'nor needs a MAC key');
    const rules = ruleLines(config);
    const at = (rule: string): number => rules.indexOf(rule);
    assert.ok(at('http-request set-var(txn.stella_peer_id) ssl_c_s_dn(CN)') >= 0);
    assert.ok(at('http-request lua.stella_v2_stamp') > at('http-request set-var(txn.stella_peer_id) ssl_c_s_dn(CN)'));
    assert.equal(rules.at(-1), 'http-request deny deny_status 500 if { var(txn.stella_v2_refuse) -m found }', 'the refusals follow the action');
    // Seq 2 behind the opaque WAF covers the member of seq 1 (the edge), and strips nothing.
    assert.match(lua, /^ {2}label = "stella-2-gw-internal",$/m);
    assert.match(lua, /^ {2}previous = "stella-1-gw-edge",$/m);
    assert.match(lua, /^ {2}strip = false,$/m);
    assert.match(lua, /^ {2}alg = "ecdsa-p256-sha256",$/m);
  });

  it('keeps every key out of the rendered files', async () => {
    const deployment = await deploy(internalV2('both'));
    const { config, lua, code, output } = await renderAndCheck(deployment);
    assert.equal(code, 0, output);
    const pem = readFileSync(join(deployment.dir, 'keys/gw-internal.v2.pem'), 'utf8');
    const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    for (const text of [config, lua]) {
      assert.ok(!text.includes('PRIVATE KEY'));
      assert.ok(!text.includes(body.slice(0, 40)));
    }
    assert.match(config, /stella-provenance-v1\|gw-internal\|2\|/, 'profile both stamps v1 as before');
  });

  it('loads with the check-only keys of `haproxy -c` (no secret needed to check a config), for ECDSA and HMAC', async () => {
    for (const alg of ['ecdsa-p256-sha256', 'hmac-sha256'] as const) {
      const deployment = await deploy(internalV2('v2', alg));
      const internal = hop(deployment, 'gw-internal');
      const { code, output } = await renderAndCheck(deployment, { ...haproxyProgram.check('/unused', internal).env });
      assert.equal(code, 0, `${alg}: ${output}`);
    }
  });

  it('refuses to start without the v2 key variable, naming it', async () => {
    const deployment = await deploy(internalV2('v2'));
    const { code, output } = await renderAndCheck(deployment, {});
    assert.notEqual(code, 0);
    assert.match(output, new RegExp(`${HAPROXY_V2_KEY_ENV} must hold the ecdsa-p256-sha256 key of hop gw-internal \\(kid internal-v2-2026-12\\)`));
  });

  it('refuses to render Ed25519, which HAProxy cannot sign (validation refuses it first)', async () => {
    const deployment = await deploy(internalV2('v2'));
    const internal = hop(deployment, 'gw-internal');
    if (internal.stamp === false || !internal.stamp.signing) throw new Error('v2 hop');
    const ed: ResolvedHop = { ...internal, stamp: { ...internal.stamp, signing: { ...internal.stamp.signing, alg: 'ed25519' } } };
    assert.throws(() => renderHaproxyHop(deployment.topology, ed, { outDir: '/srv/out' }), /HAProxy cannot sign ed25519 natively/);
  });
});

describe('haproxyKeyEnvironment for provenance v2', () => {
  it('hands an ECDSA key on as PKCS#8 PEM and an HMAC secret as hex, beside the v1 key for both', async () => {
    const ecdsa = await deploy(internalV2('both'));
    const env = await haproxyKeyEnvironment(hop(ecdsa, 'gw-internal'));
    assert.deepEqual(Object.keys(env).sort(), [HAPROXY_KEY_ENV, HAPROXY_V2_KEY_ENV]);
    assert.match(env[HAPROXY_V2_KEY_ENV]!, /^-----BEGIN PRIVATE KEY-----\n/);
    const hmac = await deploy(internalV2('v2', 'hmac-sha256'));
    const secret = hmac.v2Keys.get('internal-v2-2026-12');
    assert.ok(secret?.alg === 'hmac-sha256');
    assert.deepEqual(await haproxyKeyEnvironment(hop(hmac, 'gw-internal')), { [HAPROXY_V2_KEY_ENV]: secret.secret.toString('hex') });
  });

  it('refuses a key that is not P-256 for ecdsa-p256-sha256, with a stable code', async () => {
    const deployment = await deploy(internalV2('v2'));
    const file = join(deployment.dir, 'keys/gw-internal.v2.pem');
    for (const other of [generateKeyPairSync('ec', { namedCurve: 'secp384r1' }), generateKeyPairSync('ed25519')]) {
      writeFileSync(file, other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await assert.rejects(haproxyKeyEnvironment(hop(deployment, 'gw-internal')), (error: unknown) =>
        error instanceof GatewayFilesError && error.code === 'GATEWAY_FILES_INVALID' && /needs a P-256 key/.test(error.message));
    }
    writeFileSync(file, 'not a key');
    await assert.rejects(haproxyKeyEnvironment(hop(deployment, 'gw-internal')), (error: unknown) =>
      error instanceof GatewayFilesError && /not a PEM private key/.test(error.message));
  });
});
