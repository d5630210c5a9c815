/**
 * The ops listener in-process (docs/operations/running.md#the-ops-listener): which addresses it
 * takes, its three routes, and what it answers for anything else.
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { Counter, Registry } from 'prom-client';
import { request } from 'undici';
import { OpsListenError, parseOpsListen, startOpsListener, type ReadinessResult } from '../../src/observe/ops-listener.js';

describe('parseOpsListen', () => {
  it('takes loopback addresses and localhost', () => {
    assert.deepEqual(parseOpsListen('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseOpsListen('127.10.0.3:0'), { host: '127.10.0.3', port: 0 });
    assert.deepEqual(parseOpsListen('[::1]:9100'), { host: '::1', port: 9100 });
    assert.deepEqual(parseOpsListen('localhost:9100'), { host: 'localhost', port: 9100 });
  });

  it('refuses an address that is not loopback unless the operator opts in', () => {
    for (const listen of ['0.0.0.0:9100', '10.1.2.3:9100', '[::]:9100', '[2001:db8::1]:9100']) {
      assert.throws(() => parseOpsListen(listen), (e: unknown) => e instanceof OpsListenError && e.code === 'ops-listen' && /not a loopback address.*--ops-listen-public/.test(e.message), listen);
      assert.doesNotThrow(() => parseOpsListen(listen, true), listen);
    }
  });

  it('refuses a host name other than localhost (what it resolves to can change) and a malformed address', () => {
    for (const listen of ['metrics.internal:9100', 'nonsense', ':9100', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:9x']) {
      assert.throws(() => parseOpsListen(listen, true), (e: unknown) => e instanceof OpsListenError && e.code === 'ops-listen', listen);
    }
  });
});

describe('startOpsListener', () => {
  const start = async (readiness: () => Promise<ReadinessResult>) => {
    const registry = new Registry();
    new Counter({ name: 'stella_test_total', help: 'a test counter', registers: [registry] }).inc(3);
    return startOpsListener({ listen: '127.0.0.1:0', part: 'evidence-locker', registry, readiness });
  };
  const get = async (url: string, method: 'GET' | 'HEAD' | 'POST' = 'GET') => {
    const res = await request(url, { method });
    return { status: res.statusCode, type: res.headers['content-type'], text: await res.body.text() };
  };

  it('answers /livez, /readyz and /metrics, and 404 or 405 for anything else', async () => {
    const ops = await start(async () => ({ ready: true, checks: { database: { ok: true, detail: 'sqlite answers' } } }));
    try {
      assert.match(ops.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(JSON.parse((await get(`${ops.url}/livez`)).text), { part: 'evidence-locker', status: 'live' });
      const ready = await get(`${ops.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(JSON.parse(ready.text), { part: 'evidence-locker', status: 'ready', checks: { database: { ok: true, detail: 'sqlite answers' } } });
      const metrics = await get(`${ops.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.type as string, /^text\/plain; version=0\.0\.4/);
      assert.match(metrics.text, /^stella_test_total 3$/m);
      assert.equal((await get(`${ops.url}/livez`, 'HEAD')).text, '');
      assert.equal((await get(`${ops.url}/healthz/ready`)).status, 404);
      assert.equal((await get(`${ops.url}/api/v1/evidence`)).status, 404);
      assert.equal((await get(`${ops.url}/metrics`, 'POST')).status, 405);
    } finally {
      await ops.close();
    }
  });

  it('answers 503 with the failed checks when not ready, and when a check throws', async () => {
    let fail: 'no' | 'check' | 'throw' = 'check';
    const ops = await start(async () => {
      if (fail === 'throw') throw new Error('store closed');
      return { ready: fail === 'no', checks: { database: { ok: fail === 'no', detail: fail === 'no' ? 'answers' : 'ECONNREFUSED' } } };
    });
    try {
      const notReady = await get(`${ops.url}/readyz`);
      assert.equal(notReady.status, 503);
      assert.deepEqual(JSON.parse(notReady.text), { part: 'evidence-locker', status: 'not-ready', checks: { database: { ok: false, detail: 'ECONNREFUSED' } } });
      fail = 'throw';
      const thrown = await get(`${ops.url}/readyz`);
      assert.equal(thrown.status, 503);
      assert.equal((JSON.parse(thrown.text) as { detail: string }).detail, 'store closed');
      fail = 'no';
      assert.equal((await get(`${ops.url}/readyz`)).status, 200);
    } finally {
      await ops.close();
    }
  });

  it('refuses a public address before binding anything', async () => {
    await assert.rejects(startOpsListener({ listen: '0.0.0.0:0', part: 'p', registry: new Registry(), readiness: async () => ({ ready: true, checks: {} }) }), OpsListenError);
  });
});
