/** `host:port` parsing and formatting of the conventions floor (docs/CONVENTIONS.md#the-conventions-floor). */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { bracketHost, formatHostPort, parseHostPort, unbracketHost } from '../../src/conventions/index.js';

describe('parseHostPort', () => {
  it('splits an IPv4 address, a name and a bracketed IPv6 address', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
    assert.deepEqual(parseHostPort('gw-edge.example:443'), { host: 'gw-edge.example', port: 443 });
    assert.deepEqual(parseHostPort('[::1]:443'), { host: '::1', port: 443 });
    assert.deepEqual(parseHostPort('[2001:db8::7]:65535'), { host: '2001:db8::7', port: 65535 });
  });

  it('takes port 0, the "any free port" of a bind', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  });

  it('refuses text that is not host:port, with a TypeError naming it', () => {
    const bad = [
      '', '127.0.0.1', ':443', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:1e3', '127.0.0.1:0x50',
      '127.0.0.1: 443', ' 127.0.0.1:443', '::1:443', '[::1]', '[::1]443', '[]:443', '[127.0.0.1]:443', '[not-ipv6]:443',
      'host:port', 'a:b:443', 'host:443:1', 'host name:443', '127.0.0.1:123456',
    ];
    for (const text of bad) {
      assert.throws(() => parseHostPort(text), (error: Error) => error instanceof TypeError && error.message.includes(JSON.stringify(text)), `should refuse ${JSON.stringify(text)}`);
    }
  });

  it('reads back what formatHostPort writes, for IPv4, IPv6 and names', () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    fc.assert(
      fc.property(host, fc.integer({ min: 0, max: 65535 }), (h, port) => {
        assert.deepEqual(parseHostPort(formatHostPort({ host: h, port })), { host: h, port });
      }),
    );
  });
});

describe('formatHostPort', () => {
  it('puts an IPv6 host in brackets and leaves other hosts alone', () => {
    assert.equal(formatHostPort({ host: '::1', port: 443 }), '[::1]:443');
    assert.equal(formatHostPort({ host: '127.0.0.1', port: 8443 }), '127.0.0.1:8443');
    assert.equal(formatHostPort({ host: 'gw-edge', port: 1 }), 'gw-edge:1');
  });

  it('does not bracket a host twice', () => {
    assert.equal(bracketHost('[::1]'), '[::1]');
    assert.equal(formatHostPort({ host: '[::1]', port: 443 }), '[::1]:443');
  });

  it('takes the brackets off again for a socket call, and leaves other hosts alone', () => {
    for (const host of ['::1', '127.0.0.1', 'gw-edge', '2001:db8::1']) assert.equal(unbracketHost(bracketHost(host)), host);
    assert.equal(unbracketHost('[::1'), '[::1', 'a half-bracketed host is not an IPv6 literal: left for the socket call to refuse');
  });
});
