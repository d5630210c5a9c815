/**
 * The request id a receiver keeps or replaces (docs/operations/running.md#the-request-id).
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { MAX_REQUEST_ID_LENGTH, REQUEST_ID_PATTERN, isAcceptableRequestId, requestIdOf } from '../../src/observe/request-id.js';

const fresh = (): string => 'fresh-id';

describe('requestIdOf', () => {
  it('keeps an id of visible ASCII up to 128 characters', () => {
    for (const id of ['c8715a3a3b1a0092c9cb94542d2cec3a', '7289a9f2-d314-49b2-9e32-4dc62cab2645', 'axYasjrwieEcgPeHFp_vRQAAAgI', '!', '~'.repeat(MAX_REQUEST_ID_LENGTH)]) {
      assert.equal(requestIdOf({ 'x-request-id': id }, fresh), id);
    }
  });

  it('replaces an absent, empty, too long, spaced, control-character or non-ASCII id', () => {
    const refused: [string, string | undefined][] = [
      ['absent', undefined],
      ['empty', ''],
      ['129 characters', 'a'.repeat(MAX_REQUEST_ID_LENGTH + 1)],
      ['a space (two copies joined by Node)', 'a, b'],
      ['a line feed (a forged log line)', 'a\n{"level":30}'],
      ['a tab', 'a\tb'],
      ['DEL', 'a\x7fb'],
      ['non-ASCII', 'idé'],
    ];
    for (const [what, value] of refused) {
      assert.equal(requestIdOf(value === undefined ? {} : { 'x-request-id': value }, fresh), 'fresh-id', what);
    }
  });

  it('makes a UUID when it replaces and no generator is given', () => {
    assert.match(requestIdOf({ 'x-request-id': 'bad id' }), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('always answers an id that a log line and a header can carry as is (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 200, unit: 'binary' }), { nil: undefined }), (value) => {
        const id = requestIdOf(value === undefined ? {} : { 'x-request-id': value });
        assert.ok(REQUEST_ID_PATTERN.test(id));
        assert.equal(isAcceptableRequestId(value), value === id);
      }),
    );
  });
});
