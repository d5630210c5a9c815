import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { macToBase64, parseProvenanceHeader, serializeProvenanceHeader } from '../../src/provenance/codec.js';
import { stampRecord } from '../../src/provenance/chain.js';
import { contentDigestOf } from '../../src/provenance/digest.js';
import { parseMacKey } from '../../src/provenance/keys.js';
import { computeMac, macInput } from '../../src/provenance/mac.js';
import { PROVENANCE_CODES, PROVENANCE_PROBLEMS, type ProvenanceCode } from '../../src/provenance/problems.js';
import { requireProgram } from '../support/programs.js';

const doc = readFileSync(new URL('../../docs/provenance.md', import.meta.url), 'utf8');

/** Every ```vector block as a key → value map. */
function vectors(): Map<string, string>[] {
  return [...doc.matchAll(/```vector\n([\s\S]*?)```/g)].map(
    (m) => new Map(m[1]!.trimEnd().split('\n').map((line) => {
      const at = line.indexOf(' =');
      return [line.slice(0, at), line.slice(at + 2).replace(/^ /, '')] as [string, string];
    })),
  );
}

describe('docs/provenance.md', () => {
  it('lists the problem codes in the registry order with the registry statuses', () => {
    const rows = [...doc.matchAll(/^\| (\d) \| [^|]+ \| (\d{3}) \| `([a-z-]+)` \|$/gm)].map((m) => ({ order: Number(m[1]), status: Number(m[2]), code: m[3]! }));
    assert.deepEqual(rows.map((r) => r.code), PROVENANCE_CODES);
    assert.deepEqual(rows.map((r) => r.order), PROVENANCE_CODES.map((_, i) => i + 1));
    for (const row of rows) assert.equal(row.status, PROVENANCE_PROBLEMS[row.code as ProvenanceCode].status, row.code);
  });

  it('has the registry agree with the ProvenanceCode type and docs/provenance.md statuses', () => {
    // The literal list is the docs/provenance.md table; the `satisfies` makes tsc fail if a code is not a ProvenanceCode.
    const spec = {
      'untrusted-peer': 403,
      'provenance-missing': 401,
      'provenance-malformed': 400,
      'topology-mismatch': 403,
      'provenance-tampered': 401,
      'provenance-stale': 401,
      'provenance-replayed': 409,
      'binding-mismatch': 422,
      'envelope-invalid': 401,
    } satisfies Record<ProvenanceCode, number>;
    assert.deepEqual(Object.keys(spec), PROVENANCE_CODES);
    for (const code of PROVENANCE_CODES) assert.equal(PROVENANCE_PROBLEMS[code].status, spec[code]);
  });

  const all = vectors();
  it('carries two test vectors', () => assert.equal(all.length, 2));

  for (const v of all) {
    const get = (k: string): string => {
      const value = v.get(k);
      assert.ok(value !== undefined, `vector lacks ${k}`);
      return value;
    };
    describe(`vector "${get('name')}"`, () => {
      const key = parseMacKey(get('key'), 'vector key');
      const body = Buffer.from(get('body'));
      const request = { method: get('method'), pathAndQuery: get('path'), scanId: get('scan-id'), contentDigest: get('content-digest') };
      const previous = get('previous-header') === '' ? [] : parseProvenanceHeader(get('previous-header'), { maxHeaderBytes: 8192, maxHops: 8 });
      const fields = { hop: get('hop'), seq: Number(get('seq')), ts: Number(get('ts')), nonce: get('nonce'), peer: get('peer'), peerId: get('peer-id') };

      it('has a key whose hex and base64 forms agree', () => assert.equal(key.toString('hex'), get('keyhex')));
      it('has the Content-Digest of its body', () => assert.equal(contentDigestOf(body), request.contentDigest));
      it('has the MAC input the code builds', () => {
        const previousMac = previous.at(-1) ? macToBase64(previous.at(-1)!.mac) : null;
        assert.equal(macInput({ ...fields, request, previousMac }), get('input'));
      });
      it('has the MAC of its input', () => assert.equal(Buffer.from(computeMac(key, get('input'))).toString('base64'), get('mac')));
      it('has the header stampRecord produces and parseProvenanceHeader reads back', () => {
        const record = stampRecord({ ...fields, kid: get('kid'), key, request, previous: previous.at(-1) ?? null });
        assert.equal(serializeProvenanceHeader([...previous, record]), get('header'));
        const parsed = parseProvenanceHeader(get('header'), { maxHeaderBytes: 8192, maxHops: 8 });
        assert.equal(macToBase64(parsed.at(-1)!.mac), get('mac'));
      });
      it('has a MAC that openssl computes identically', () => {
        const openssl = requireProgram('openssl');
        const out = execFileSync(openssl, ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${get('keyhex')}`, '-binary'], { input: get('input') });
        assert.equal(out.toString('base64'), get('mac'));
        assert.notEqual(createHash('sha256').update(get('input')).digest('base64'), get('mac'));
      });
    });
  }
});
