/**
 * The one problem+json builder (src/errors/problem.ts): the bytes every part sends, pinned as they
 * were before the parts shared it, so clients that compare or parse them see no change.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { problemDocument, PROBLEM_TYPE_BASE } from '../../src/errors/problem.js';
import { defineErrors } from '../../src/errors/registry.js';
import { PKI_ERRORS } from '../../src/pki/errors.js';
import { PKI_PROBLEM_TYPE_BASE } from '../../src/pki/enrollment/plugin.js';
import { PROVENANCE_ERRORS, ProvenanceError } from '../../src/provenance/problems.js';
import { SERVICE_ERRORS, ServiceError } from '../../src/services/common/problems.js';

describe('problemDocument', () => {
  it('writes type, title, status, code, detail in that order, from the registry entry', () => {
    assert.equal(
      JSON.stringify(new ProvenanceError('provenance-stale', 'hop gw-edge: 400 s old').toProblem()),
      '{"type":"https://stella-ops.org/problems/provenance-stale","title":"A hop record timestamp is outside the allowed window","status":401,"code":"provenance-stale","detail":"hop gw-edge: 400 s old"}',
    );
    assert.equal(
      JSON.stringify(new ServiceError('scan-conflict', 'scan s-1 belongs to another scanner').toProblem()),
      '{"type":"https://stella-ops.org/problems/scan-conflict","title":"The scan belongs to another scanner, exists with different data, or was completed with another report","status":409,"code":"scan-conflict","detail":"scan s-1 belongs to another scanner"}',
    );
  });

  it('answers with another status only when told (the stamper refuses everything with 403)', () => {
    const body = problemDocument(PROVENANCE_ERRORS, 'provenance-malformed', 'bad scan id', { status: 403 });
    assert.deepEqual(body, { type: `${PROBLEM_TYPE_BASE}provenance-malformed`, title: PROVENANCE_ERRORS.codes['provenance-malformed'].title, status: 403, code: 'provenance-malformed', detail: 'bad scan id' });
    assert.equal(PROVENANCE_ERRORS.codes['provenance-malformed'].status, 400);
  });

  it('takes an area\'s own type base (the PKI endpoint)', () => {
    const body = problemDocument(PKI_ERRORS, 'PKI_TOKEN_USED', 'token used', { typeBase: PKI_PROBLEM_TYPE_BASE });
    assert.equal(body.type, 'https://stella-ops.org/problems/pki/PKI_TOKEN_USED');
    assert.equal(body.status, 401);
  });

  it('refuses a code that has no HTTP status', () => {
    const registry = defineErrors('local', { LOCAL_ONLY: { title: 'never sent', exit: 'usage', retryable: false } });
    assert.throws(() => problemDocument(registry, 'LOCAL_ONLY', 'x'), /has no HTTP status/);
    assert.ok(SERVICE_ERRORS.list.every((code) => problemDocument(SERVICE_ERRORS, code, '').status === SERVICE_ERRORS.codes[code].status));
  });
});
