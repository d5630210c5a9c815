/**
 * The Envoy hop renderer (docs/gateways/README.md): `<hop id>/envoy.yaml`, a static v3 bootstrap. Envoy cannot
 * compute the hop MAC, so a stamping Envoy hop calls its forward-auth stamper through `ext_authz`.
 * What each block does and how to adapt it by hand: docs/gateways/envoy.md.
 */
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { stringify } from 'yaml';
import type { GatewayKindModule, GatewayProgram, HopRenderer } from '../types.js';
import { envoyBootstrap } from './bootstrap.js';
import { loadEnvoyCheck } from './lazy-check.js';

export { envoyBootstrap, NEXT_CLUSTER, STAMPER_CLUSTER, STAMPER_REQUEST_HEADERS } from './bootstrap.js';
export type { EnvoyConfigProblem } from './check.js';
// The check itself loads lazily: its packages are optional (lazy-check.ts).
export { ENVOY_CHECK_INSTALL, ENVOY_CHECK_PACKAGES, EnvoyCheckUnavailableError, loadEnvoyCheck } from './lazy-check.js';

/** The bootstrap file inside the hop folder. */
export const ENVOY_CONFIG_FILE = 'envoy.yaml';

/**
 * Renders one Envoy hop. Pure: the bootstrap references the topology's certificate, key, CA
 * bundle and CRL files; it holds no key material.
 *
 * @example
 * renderEnvoyHop(topology, hop, { outDir: '/srv/gw' }).map((f) => f.path); // ['gw-edge/envoy.yaml']
 */
export const renderEnvoyHop: HopRenderer = (topology, hop) => {
  if (hop.kind !== 'envoy') throw new TypeError(`renderEnvoyHop: hop ${hop.id} is of kind ${hop.kind}`);
  const header = `# Envoy v3 bootstrap of hop ${hop.id} (topology ${topology.name}), rendered by stella-gateway.\n# See docs/gateways/envoy.md for what each block does.\n`;
  return [{ path: `${hop.id}/${ENVOY_CONFIG_FILE}`, contents: header + stringify(envoyBootstrap(topology, hop), { lineWidth: 0, aliasDuplicateObjects: false }) }];
};

/**
 * `check` is `stella-gateway gateway check-envoy FILE`: the Envoy v3 API schema check, because no
 * Envoy binary exists on Debian 12 or npm (the runtime and `gateway render --check` run the same
 * check in-process). `run` is the real `envoy` command, for machines that have one.
 */
export const envoyProgram: GatewayProgram = {
  check: (hopDir) => ({ command: 'stella-gateway', args: ['gateway', 'check-envoy', posix.join(hopDir, ENVOY_CONFIG_FILE)] }),
  run: (hopDir, hop) => ({
    command: 'envoy',
    args: ['-c', posix.join(hopDir, ENVOY_CONFIG_FILE), '--service-node', hop.id, '--log-level', 'info', '--base-id', String(hashBaseId(hop.id))],
  }),
  reload: () => ({ kind: 'unsupported', reason: 'Envoy is reloaded by its own hot-restarter (docs/gateways/envoy.md); no envoy binary runs here' }),
};

/** Several Envoys on one machine need distinct shared-memory base ids. */
function hashBaseId(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 100000;
  return h + 1;
}

/**
 * The Envoy kind (one line of `GATEWAY_KINDS`): checked in-process against the Envoy v3 API schema
 * (the check loads lazily: `./gateways` never loads protobufjs); no in-place reload.
 */
export const envoyKind: GatewayKindModule = {
  render: renderEnvoyHop,
  program: envoyProgram,
  prepare: async () => ({}),
  async check(hop, hopDir) {
    const checkEnvoyConfig = await loadEnvoyCheck();
    const problems = checkEnvoyConfig(await readFile(join(hopDir, ENVOY_CONFIG_FILE), 'utf8'));
    return { hop: hop.id, kind: hop.kind, ok: problems.length === 0, output: problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('\n') || 'accepted by the Envoy v3 API schema' };
  },
  unit: { notes: ['Envoy has no in-place reload: `systemctl reload` reports the failure; restart instead'] },
};
