import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEnvoyConfig } from '../../../src/gateways/envoy/check.js';

describe('checkEnvoyConfig on arbitrary input (property)', () => {
  it('returns problems with string paths instead of throwing, whatever JSON it is given', () => {
    const field = fc.constantFrom('node', 'static_resources', 'admin', 'listeners', 'clusters', 'name', 'typed_config', '@type', 'connect_timeout', 'type', 'bogus');
    const tree = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(field, tie('value'), { maxKeys: 4 })),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(field, tree, { maxKeys: 4 }), (config) => {
        const problems = checkEnvoyConfig(config);
        for (const p of problems) {
          assert.equal(typeof p.path, 'string');
          assert.ok(p.message.length > 0);
        }
        // Any key outside the Bootstrap message must have been reported at the top level.
        const unknownTop = Object.keys(config).filter((k) => !['node', 'static_resources', 'admin'].includes(k));
        for (const k of unknownTop) assert.ok(problems.some((p) => p.path === k), `expected a problem at ${k}`);
      }),
      { numRuns: 300 },
    );
  });
});
