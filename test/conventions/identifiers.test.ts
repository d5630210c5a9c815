/** The identifier formats of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor): each accepts its edge cases and refuses the ones just past them. */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import {
  CERT_FINGERPRINT_PATTERN,
  CERT_FINGERPRINT_SOURCE,
  HOP_ID_PATTERN,
  HOP_ID_SOURCE,
  KID_PATTERN,
  KID_SOURCE,
  LISTEN_ADDRESS_PATTERN,
  LISTEN_ADDRESS_SOURCE,
  NONCE_PATTERN,
  NONCE_SOURCE,
  PEER_ID_PATTERN,
  PEER_ID_SOURCE,
  SCAN_ID_PATTERN,
  SCAN_ID_SOURCE,
  SHA256_HEX_PATTERN,
  SHA256_HEX_SOURCE,
  TOPOLOGY_NAME_PATTERN,
  TOPOLOGY_NAME_SOURCE,
} from '../../src/conventions/index.js';

/** Each pattern with the values it must accept and those it must refuse. */
const CASES: { name: string; pattern: RegExp; accept: string[]; refuse: string[] }[] = [
  {
    name: 'scan id',
    pattern: SCAN_ID_PATTERN,
    accept: ['a', 'scan-42', 'scan-2026.11:42', 'A_b', `s${'x'.repeat(127)}`],
    refuse: ['', `s${'x'.repeat(128)}`, '.scan', '-scan', ':scan', '_scan', 'scan 42', 'scan/42', 'scän', 'scan\n'],
  },
  {
    name: 'hop id',
    pattern: HOP_ID_PATTERN,
    accept: ['a', 'gw-edge', 'waf.internal', `g${'x'.repeat(62)}`],
    refuse: ['', `g${'x'.repeat(63)}`, 'Gw-edge', '1gw', '.gw', '-gw', 'gw_edge', 'gw:edge'],
  },
  {
    name: 'topology name',
    pattern: TOPOLOGY_NAME_PATTERN,
    accept: ['demo', 'prod.eu-1', `t${'x'.repeat(62)}`],
    refuse: ['', `t${'x'.repeat(63)}`, 'Demo', 'demo_1', '.demo', '9demo'],
  },
  {
    name: 'peer id',
    pattern: PEER_ID_PATTERN,
    accept: ['scanner-01', 'A.b_c-d', '.', 'x'.repeat(64)],
    refuse: ['', 'x'.repeat(65), 'scanner 01', 'scanner:01', 'a/b'],
  },
  {
    name: 'kid',
    pattern: KID_PATTERN,
    accept: ['k1', 'edge-2026:11', '.k', 'x'.repeat(64)],
    refuse: ['', 'x'.repeat(65), 'k|1', 'k"1', 'k\\1', 'k 1', '*'],
  },
  {
    name: 'nonce',
    pattern: NONCE_PATTERN,
    accept: ['0'.repeat(16), 'a'.repeat(64), '0123456789abcdef'],
    refuse: ['0'.repeat(15), 'a'.repeat(65), 'ABCDEF0123456789', '0123456789abcdeg'],
  },
  {
    name: 'certificate fingerprint',
    pattern: CERT_FINGERPRINT_PATTERN,
    accept: [`sha256:${'ab'.repeat(32)}`],
    refuse: ['ab'.repeat(32), `sha256:${'AB'.repeat(32)}`, `sha256:${'ab'.repeat(31)}`, `sha256:${'ab'.repeat(32)}0`, `SHA256:${'ab'.repeat(32)}`],
  },
  {
    name: 'SHA-256 hex',
    pattern: SHA256_HEX_PATTERN,
    accept: ['0'.repeat(64), 'cd'.repeat(32)],
    refuse: ['0'.repeat(63), '0'.repeat(65), 'CD'.repeat(32), `sha256:${'cd'.repeat(32)}`, `${'cd'.repeat(32)}\n`],
  },
  {
    name: 'listen address',
    pattern: LISTEN_ADDRESS_PATTERN,
    accept: ['127.0.0.1:8443', '[::1]:1', 'gw-edge.example:65535', 'localhost:443'],
    refuse: ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:08443', '::1:443', ':443', '[::1]', 'host:port'],
  },
];

describe('identifier patterns', () => {
  for (const { name, pattern, accept, refuse } of CASES) {
    it(`the ${name} pattern accepts its edge cases`, () => {
      for (const value of accept) assert.ok(pattern.test(value), `${name} should accept ${JSON.stringify(value)}`);
    });
    it(`the ${name} pattern refuses what lies just past them`, () => {
      for (const value of refuse) assert.ok(!pattern.test(value), `${name} should refuse ${JSON.stringify(value)}`);
    });
  }

  it('gives every RegExp exactly the text of its source string, so JSON Schemas and configs carry the same rule', () => {
    const pairs: [RegExp, string][] = [
      [SCAN_ID_PATTERN, SCAN_ID_SOURCE],
      [HOP_ID_PATTERN, HOP_ID_SOURCE],
      [TOPOLOGY_NAME_PATTERN, TOPOLOGY_NAME_SOURCE],
      [PEER_ID_PATTERN, PEER_ID_SOURCE],
      [KID_PATTERN, KID_SOURCE],
      [NONCE_PATTERN, NONCE_SOURCE],
      [CERT_FINGERPRINT_PATTERN, CERT_FINGERPRINT_SOURCE],
      [SHA256_HEX_PATTERN, SHA256_HEX_SOURCE],
      [LISTEN_ADDRESS_PATTERN, LISTEN_ADDRESS_SOURCE],
    ];
    for (const [pattern, source] of pairs) {
      assert.equal(pattern.source, source);
      assert.equal(pattern.flags, '', `${source} must not depend on flags a JSON Schema cannot carry`);
    }
  });

  it('pins the scan id rule the docs state (docs/provenance.md#2-headers)', () => {
    assert.equal(SCAN_ID_SOURCE, '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
  });
});
