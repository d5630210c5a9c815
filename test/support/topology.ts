/** Topology documents written in tests: the part every test document has in common. */
import type { TopologyInput } from '../../src/topology/schema.js';

/**
 * apiVersion, kind, name `demo`, trust domain `stella.local`, `./pki`, and scanner-01 with one HMAC
 * key (`kid`, `file`); a test spreads it and adds its own hops and services.
 * @example const doc = { ...topologyHead(), hops: [...], services: [...] };
 */
export function topologyHead(key: { kid: string; file: string } = { kid: 's1', file: './keys/s1.hmac' }): Pick<TopologyInput, 'apiVersion' | 'kind' | 'name' | 'trustDomain' | 'pki' | 'scanners'> {
  return {
    apiVersion: 'stella-gateway/v1',
    kind: 'Topology',
    name: 'demo',
    trustDomain: 'stella.local',
    pki: { dir: './pki' },
    scanners: [{ id: 'scanner-01', signing: { keys: [key] } }],
  };
}
