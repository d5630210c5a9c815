/** Service replicas (docs/topology.md#replicas): their addresses and `serve --replica`. */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { listenHost, replicaAddress, replicaAddresses } from '../../src/topology/replicas.js';
import { tempDir } from '../support/tmp.js';

describe('replicas', () => {
  const service = { id: 'evidence-locker', listen: '127.0.0.1:9443', replicas: ['127.0.0.1:9444', '[::1]:9445'] };

  it('lists listen as replica 0 and replicas[i] as replica i+1', () => {
    assert.deepEqual(replicaAddresses(service), ['127.0.0.1:9443', '127.0.0.1:9444', '[::1]:9445']);
    assert.deepEqual(replicaAddresses({ id: 'one', listen: '127.0.0.1:1' }), ['127.0.0.1:1']);
    assert.equal(replicaAddress(service, 0), '127.0.0.1:9443');
    assert.equal(replicaAddress(service, 2), '[::1]:9445');
    assert.equal(listenHost('[::1]:9445'), '[::1]');
  });

  it('refuses a replica the service does not have, naming the ones it has', () => {
    for (const n of [3, -1, 1.5, Number.NaN]) assert.throws(() => replicaAddress(service, n), { name: 'RangeError', message: /has replicas 0…2 \(0 is its listen 127\.0\.0\.1:9443\), not/ });
  });
});

describe('stella-gateway serve --replica', () => {
  it('exits 2 with one line for a replica the topology does not name, or with --listen too', async () => {
    const tmp = tempDir();
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const document = parse(readFileSync('examples/topology.yaml', 'utf8')) as { services: { id: string; replicas?: string[] }[] };
      document.services[0]!.replicas = ['127.0.0.1:9544'];
      const file = join(tmp.path, 'topology.yaml');
      writeFileSync(file, stringify(document));
      assert.equal(await main(['serve', '--topology', file, '--service', 'evidence-locker', '--replica', '2']), 2);
      assert.equal(await main(['serve', '--topology', file, '--service', 'evidence-locker', '--replica', 'one']), 2);
      assert.equal(await main(['serve', '--topology', file, '--service', 'evidence-locker', '--replica', '1', '--listen', '127.0.0.1:1']), 2);
      process.stderr.write = write;
      const text = errors.join('');
      assert.match(text, /evidence-locker has replicas 0…1 \(0 is its listen 127\.0\.0\.1:\d+\), not 2; list more under services\[\]\.replicas/);
      assert.match(text, /give --replica or --listen, not both/);
      assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
    } finally {
      process.stderr.write = write;
      tmp.remove();
    }
  });
});
