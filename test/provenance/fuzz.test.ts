/**
 * Fuzz: arbitrary header values and bodies through app.inject() never produce a 5xx, an unhandled
 * exception or a non-problem answer. 11 000 cases in all, plus a positive property: every validly stamped request passes, kept fast by reusing one app.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PROVENANCE_PROBLEMS } from '../../src/provenance/problems.js';
import { buildRequest, fixtureKeys, fixtureTopology, NOW_S } from './support/fixture.js';
import { buildTestApp, TEST_PEER_HEADER, type TestApp } from './support/app.js';

const topology = fixtureTopology();
const keys = fixtureKeys(topology);
const base = buildRequest(topology, keys);
const header = base.headers['x-stella-provenance']!;

// Field-value characters Node's parser lets through: visible ASCII, SP, HTAB, obs-text.
const fieldChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(0x09), fc.integer({ min: 0x80, max: 0xff })).map((c) => String.fromCharCode(c));
const fieldValue = (maxLength: number) => fc.string({ unit: fieldChar, maxLength });
const sfish = fc.string({ unit: fc.constantFrom(...'abcz019-;=:",()?*@%. \t'.split(''), 'seq', 'mac', 'nonce', 'gw-edge', '=:'), maxLength: 80 });

/** A valid header with a few random edits: characters replaced, inserted or deleted. */
const mutatedHeader = fc
  .array(fc.tuple(fc.nat(header.length), fc.nat(4), fieldValue(3)), { minLength: 1, maxLength: 4 })
  .map((edits) => edits.reduce((h, [at, drop, insert]) => h.slice(0, at) + insert + h.slice(at + drop), header));

const ACCEPTABLE = new Set([200, ...Object.values(PROVENANCE_PROBLEMS).map((p) => p.status), 413, 415]);

describe('fuzzing the provenance plugin', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp();
  });
  after(async () => {
    await t.app.close();
  });

  async function check(headers: Record<string, string>, body: Buffer | null, url = base.url): Promise<boolean> {
    const res = await t.app.inject({ method: 'POST', url, headers: { ...headers, [TEST_PEER_HEADER]: 'gw-internal' }, ...(body ? { payload: body } : {}) });
    assert.ok(res.statusCode < 500, `${res.statusCode} ${res.body}`);
    assert.ok(ACCEPTABLE.has(res.statusCode), `${res.statusCode} ${res.body}`);
    if (res.statusCode !== 200 && res.statusCode !== 413 && res.statusCode !== 415 && res.statusCode !== 400) {
      assert.ok((JSON.parse(res.body) as { code?: string }).code, res.body);
    }
    return true;
  }

  it('answers arbitrary X-Stella-Provenance values with a 4xx problem', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fieldValue(200), sfish, mutatedHeader), async (value) => check({ ...base.headers, 'x-stella-provenance': value }, base.body)),
      { numRuns: 4500 },
    );
  });

  it('answers arbitrary scan ids, digests and paths without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fieldValue(40), fc.oneof(fieldValue(60), fc.constant(base.headers['content-digest']!)), fc.webPath(), async (scanId, digest, path) =>
        check({ ...base.headers, 'x-stella-scan-id': scanId, 'content-digest': digest }, base.body, `/api/v1/evidence${path.replace(/^\/?/, '/')}`),
      ),
      { numRuns: 3000 },
    );
  });

  it('accepts every validly stamped request, whatever its path, scan id and body (property)', async () => {
    const scanId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/);
    // light-my-request resolves dot segments in inject() URLs (a real socket delivers them as sent).
    const path = fc
      .webPath()
      .map((p) => `/api/v1/any${p.replace(/^\/?/, '/')}`.replace(/[^\x21-\x7e]/g, ''))
      .filter((p) => !p.split(/[/?#]/).some((segment) => segment === '.' || segment === '..'));
    await fc.assert(
      fc.asyncProperty(scanId, path, fc.option(fc.string(), { nil: null }), fc.integer({ min: -100, max: 0 }), async (id, url, text, ageS) => {
        const built = buildRequest(topology, keys, { scanId: id, url, body: text === null ? null : Buffer.from(JSON.stringify({ text })), tsS: NOW_S + ageS });
        const res = await t.app.inject({ method: 'POST', url, headers: { ...built.headers, [TEST_PEER_HEADER]: 'gw-internal' }, ...(built.body ? { payload: built.body } : {}) });
        assert.equal(res.statusCode, 200, `${url} ${res.body}`);
      }),
      { numRuns: 500 },
    );
  });

  it('answers arbitrary bodies under a valid chain without a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.constantFrom('application/json', 'application/octet-stream', 'application/vnd.in-toto+json', 'text/plain'), async (bytes, type) =>
        check({ ...buildRequest(topology, keys).headers, 'content-type': type }, Buffer.from(bytes)),
      ),
      { numRuns: 3000 },
    );
  });
});
