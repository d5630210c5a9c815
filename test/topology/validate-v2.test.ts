import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkTopology } from '../../src/topology/parse.js';
import { validateTopology } from '../../src/topology/validate.js';
import { topologySchema } from '../../src/topology/schema.js';
import { generateKey } from '../../src/dsse/index.js';
import type { TopologyProblem } from '../../src/topology/errors.js';
import { topologyHead } from '../support/topology.js';

type Doc = Record<string, unknown> & { hops: Record<string, unknown>[]; services: Record<string, unknown>[] };

/** The reference chain with v2 everywhere: NGINX edge via the stamper (Ed25519) → WAF → HAProxy (ECDSA, native). */
function valid(): Doc {
  return {
    ...topologyHead(),
    hops: [
      {
        id: 'gw-edge',
        kind: 'nginx',
        listen: '127.0.0.1:8443',
        stamp: { via: 'forward-auth', profile: 'v2', stamper: { socket: './run/edge.sock' }, signing: { alg: 'ed25519', keys: [{ kid: 'e2', file: './keys/e.pem', publicFile: './keys/e.pub.pem' }] } },
        next: 'waf',
      },
      { id: 'waf', kind: 'apache-modsecurity', listen: '127.0.0.1:8444', stamp: false, next: 'gw-internal' },
      {
        id: 'gw-internal',
        kind: 'haproxy',
        listen: '127.0.0.1:8445',
        stamp: { via: 'native', profile: 'both', keys: [{ kid: 'i1', file: './keys/i.key' }], signing: { alg: 'ecdsa-p256-sha256', keys: [{ kid: 'i2', file: './keys/i.pem', publicFile: './keys/i.pub.pem' }] } },
        next: 'evidence-locker',
      },
    ],
    services: [{ id: 'evidence-locker', kind: 'evidence-locker', listen: '127.0.0.1:9443', receiptKey: './keys/r.pem', provenance: { require: 'v2' } }],
  };
}

function problems(mutate: (t: Doc) => void): TopologyProblem[] {
  const t = valid();
  mutate(t);
  const result = checkTopology(t);
  return result.ok ? [] : result.problems;
}
const stamp = (t: Doc, i: number): Record<string, unknown> => t.hops[i]!.stamp as Record<string, unknown>;
const signing = (t: Doc, i: number): Record<string, unknown> & { keys: Record<string, unknown>[] } => stamp(t, i).signing as never;

describe('topology validation of provenance v2', () => {
  it('accepts the v2 reference chain, and a v1 topology without profile (the default)', () => {
    assert.deepEqual(problems(() => {}), []);
  });

  const cases: [string, (t: Doc) => void, string, RegExp][] = [
    ['Ed25519 on a native HAProxy hop', (t) => (signing(t, 2).alg = 'ed25519'), 'hops[2].stamp.signing.alg', /cannot sign ed25519/],
    ['v2 on a native NGINX hop', (t) => Object.assign(t.hops[0]!, { stamp: { via: 'native', profile: 'both', keys: [{ kid: 'e1', file: './e.key' }], signing: signing(t, 0) } }), 'hops[0].stamp.profile', /stamps v1 only; use via: forward-auth/],
    ['profile v2 without signing', (t) => delete stamp(t, 0).signing, 'hops[0].stamp.signing', /required for profile v2/],
    ['profile both without MAC keys', (t) => (stamp(t, 2).keys = []), 'hops[2].stamp.keys', /at least one MAC key/],
    ['profile v1 (default) without MAC keys', (t) => Object.assign(t.hops[2]!, { stamp: { via: 'native' } }), 'hops[2].stamp.keys', /at least one MAC key/],
    ['signing on a v1 hop', (t) => (stamp(t, 2).profile = 'v1'), 'hops[2].stamp.signing', /only used with profile v2 or both/],
    ['an asymmetric key without publicFile', (t) => delete signing(t, 0).keys[0]!.publicFile, 'hops[0].stamp.signing.keys[0].publicFile', /required for ed25519/],
    ['an HMAC key with a publicFile', (t) => Object.assign(signing(t, 2), { alg: 'hmac-sha256' }), 'hops[2].stamp.signing.keys[0].publicFile', /no public half/],
    ['a duplicate v2 kid', (t) => signing(t, 0).keys.push({ kid: 'e2', file: './x.pem', publicFile: './x.pub' }), 'hops[0].stamp.signing.keys[1].kid', /duplicate kid/],
    ['require v2 with a v1-only hop', (t) => Object.assign(t.hops[2]!, { stamp: { via: 'native', keys: [{ kid: 'i1', file: './i.key' }] } }), 'services[0].provenance.require', /gw-internal stamp v1 only/],
    ['a chain sharing no version', (t) => { delete (t.services[0] as Record<string, unknown>).provenance; Object.assign(t.hops[2]!, { stamp: { via: 'native', keys: [{ kid: 'i1', file: './i.key' }] } }); }, 'services[0]', /share no provenance version/],
    ['an unknown alg', (t) => (signing(t, 0).alg = 'rsa-pss-sha512'), 'hops[0].stamp.signing.alg', /./],
  ];
  for (const [name, mutate, path, message] of cases) {
    it(`refuses ${name}`, () => {
      const found = problems(mutate);
      assert.ok(found.some((p) => p.path === path && message.test(p.message)), JSON.stringify(found));
    });
  }

  it('refuses a public key as the signing key, and a publicFile that is not its public half', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stella-v2-validate-'));
    try {
      const a = generateKey('ed25519');
      const b = generateKey('ed25519');
      writeFileSync(join(dir, 'a.pem'), a.private, { mode: 0o600 });
      writeFileSync(join(dir, 'a.pub.pem'), a.public!);
      writeFileSync(join(dir, 'b.pub.pem'), b.public!);
      const doc = valid();
      signing(doc, 0).keys = [
        { kid: 'k1', file: 'a.pub.pem', publicFile: 'a.pub.pem' },
        { kid: 'k2', file: 'a.pem', publicFile: 'b.pub.pem' },
      ];
      const topology = topologySchema.parse(doc);
      const probe = {
        read(file: string) {
          try {
            const text = readFileSync(file, 'utf8');
            return { size: text.length, text, mode: 0o600 };
          } catch {
            return undefined;
          }
        },
      };
      const found = validateTopology(topology, { files: probe, baseDir: dir }).filter((p) => p.path.startsWith('hops[0].stamp.signing'));
      assert.ok(found.some((p) => p.path === 'hops[0].stamp.signing.keys[0].file' && /expected a private key/.test(p.message)), JSON.stringify(found));
      assert.ok(found.some((p) => p.path === 'hops[0].stamp.signing.keys[1].publicFile' && /not the public half/.test(p.message)), JSON.stringify(found));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
