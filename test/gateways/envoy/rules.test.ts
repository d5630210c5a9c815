import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { checkValueRules } from '../../../src/gateways/envoy/rules.js';

describe('checkValueRules on bytes (proto JSON base64)', () => {
  const problems = (value: string, rules: [string, unknown][]): string[] => {
    const found: string[] = [];
    checkValueRules(new Map(rules), value, 'x.key', (path, message) => void found.push(`${path}: ${message}`));
    return found;
  };

  it('counts the decoded bytes of valid base64 against min_len and max_len', () => {
    assert.deepEqual(problems('AAEC', [['bytes.min_len', 3], ['bytes.max_len', 3]]), []);
    assert.deepEqual(problems('AAEC', [['bytes.min_len', 4]]), ['x.key: must be at least 4 byte(s)']);
  });

  it('reports text that is not base64 instead of counting what Buffer.from would keep of it', () => {
    // Buffer.from('AA$$EC', 'base64') silently drops the "$$" and yields 3 bytes.
    assert.deepEqual(problems('AA$$EC', [['bytes.min_len', 1]]), ['x.key: must be base64 (the proto JSON form of bytes)']);
  });
});
