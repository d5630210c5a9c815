/**
 * The Caddy 2.6 hop (kind `caddy`): terminates mTLS, admits only the expected peers, strips the
 * headers of docs/provenance.md#rules-for-every-hop, rule 1 at the edge, stamps through the forward-auth stamper
 * (`stella-gateway stamper`), re-originates mTLS to the next hop and answers its health endpoint.
 * One file: `<outDir>/<hop id>/Caddyfile` (blocks in `caddyfile.ts`).
 */
import { posix } from 'node:path';
import type { GatewayKindModule, GatewayProgram, HopRenderer, RenderedFile } from '../types.js';
import { caddyAdminAddress, renderCaddyfile } from './caddyfile.js';

export { CLIENT_CERT_HEADER, PROVENANCE_HEADER, STAMPER_URI, caddyAdminAddress } from './caddyfile.js';

/** The config file name inside the hop folder. */
export const CADDYFILE = 'Caddyfile';

/**
 * Renders a Caddy hop. Pure: paths are built from `context.outDir`, no file is read.
 *
 * @example
 * renderCaddyHop(topology, edge, { outDir: '/etc/stella-gateway' })[0]?.path; // 'gw-edge/Caddyfile'
 */
export const renderCaddyHop: HopRenderer = (topology, hop, context): RenderedFile[] => {
  if (hop.kind !== 'caddy') throw new TypeError(`renderCaddyHop: hop ${hop.id} is of kind ${hop.kind}`);
  const hopDir = posix.join(context.outDir, hop.id);
  return [{ path: `${hop.id}/${CADDYFILE}`, contents: renderCaddyfile(topology, hop, hopDir) }];
};

/** `caddy validate` and `caddy run`, both with the Caddyfile adapter. */
export const caddyProgram: GatewayProgram = {
  check(hopDir) {
    return { command: 'caddy', args: ['validate', '--config', `${hopDir}/${CADDYFILE}`, '--adapter', 'caddyfile'] };
  },
  run(hopDir) {
    return { command: 'caddy', args: ['run', '--config', `${hopDir}/${CADDYFILE}`, '--adapter', 'caddyfile'] };
  },
  // `caddy reload` through the admin API on the hop's Unix socket; --force because the Caddyfile
  // itself did not change, only the files it names.
  reload(hopDir) {
    return {
      kind: 'command',
      invocation: { command: 'caddy', args: ['reload', '--config', `${hopDir}/${CADDYFILE}`, '--adapter', 'caddyfile', '--address', caddyAdminAddress(hopDir), '--force'] },
    };
  },
};

/** The Caddy kind (one line of `GATEWAY_KINDS`): nothing to prepare. */
export const caddyKind: GatewayKindModule = {
  render: renderCaddyHop,
  program: caddyProgram,
  prepare: async () => ({}),
};
