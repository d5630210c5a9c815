/**
 * The tests keep the rule of docs/CONVENTIONS.md#tests: they wait for a condition with
 * test/support/wait.ts, never for a fixed time, and start chains and relays only through
 * test/support. A sleep or a home-made harness added to a test file fails here, by name.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const TEST_ROOT = import.meta.dirname;

function testSources(dir = TEST_ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testSources(path);
    return entry.name.endsWith('.ts') ? [relative(TEST_ROOT, path)] : [];
  });
}

/** Lines of the test sources matching `pattern`, as `file:line`, except in `allowed` files. */
function offenders(pattern: RegExp, allowed: readonly string[]): string[] {
  return testSources()
    .filter((file) => !allowed.includes(file))
    .flatMap((file) =>
      readFileSync(join(TEST_ROOT, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}`] : [])),
    );
}

describe('test support in one place', () => {
  it('has no fixed sleep outside test/support/wait.ts', () => {
    // `new Promise((r) => setTimeout(r, N))` and the promise form of setTimeout are the two ways a
    // test sleeps. scanner/deliver.test.ts hands the worker a sleep of its own (the fake clock it tests).
    const sleeps = offenders(/new Promise\(\s*\(?\w+\)?\s*=>\s*setTimeout\(|from 'node:timers\/promises'/, ['test-support.test.ts', 'support/wait.ts', 'scanner/deliver.test.ts']);
    assert.deepEqual(sleeps, [], 'wait for a condition with waitFor, or say why time must pass with letTimePass');
  });

  it('starts real chains and relays only through test/support', () => {
    const harnesses = offenders(/\bstartDeployment\(|from 'node:https'/, ['test-support.test.ts', 'support/chain.ts', 'support/relay.ts']);
    // HTTPS that is no relay: stand-ins the tests talk to directly (the scanner tests' edge, the
    // gateway tests' upstreams, TLS peers of the PKI tests) and a client that must hold its own TLS
    // session (session resumption).
    const standIns = [
      'scanner/support/edge.ts',
      'gateways/support/upstream.ts',
      'gateways/apache/waf-behaviour.test.ts',
      'gateways/caddy/edge-behaviour.test.ts',
      'pki/hotswap.test.ts',
      'pki/revocation.test.ts',
      'e2e/session-resumption.test.ts',
    ];
    assert.deepEqual(harnesses.filter((at) => !standIns.some((file) => at.startsWith(`${file}:`))), [], 'use startChain (test/support/chain.ts) and startRelay (test/support/relay.ts)');
  });
});
