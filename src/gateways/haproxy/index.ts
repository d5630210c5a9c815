/**
 * The HAProxy hop renderer (SPEC §7): `<hop id>/haproxy.cfg`. HAProxy stamps natively with its
 * `hmac` converter; the key comes from the environment, never from the rendered file.
 * What each section does and how to adapt it by hand: docs/gateways/haproxy.md.
 */
import { posix } from 'node:path';
import type { GatewayProgram, HopRenderer } from '../types.js';
import { hopFacts, v1StampKey } from '../hop-facts.js';
import { backendSection, defaultsSection, frontendSection, globalSection, HAPROXY_KEY_ENV } from './config.js';

export { HAPROXY_KEY_ENV, HAPROXY_TLS_FILES } from './config.js';
export { GatewayFilesError, haproxyKeyEnvironment, linkHaproxyCertificates, prepareHaproxyHop } from './runtime.js';

/** The configuration file inside the hop folder. */
export const HAPROXY_CONF_FILE = 'haproxy.cfg';

/**
 * A syntactically valid key for `haproxy -c` only: checking a config needs no secret, and the
 * config refuses to start without the variable. `run` gets the real one from `prepareHaproxyHop`.
 */
const CHECK_ONLY_KEY = Buffer.alloc(32).toString('base64');

/**
 * Renders one HAProxy hop (pure).
 *
 * @throws {TypeError} for a hop of another kind or with `stamp.via: forward-auth` (HAProxy stamps natively).
 * @example
 * renderHaproxyHop(topology, hop, { outDir: '/srv/stella/gateways' }); // [{ path: 'gw-internal/haproxy.cfg', … }]
 */
export const renderHaproxyHop: HopRenderer = (topology, hop, context) => {
  if (hop.kind !== 'haproxy') throw new TypeError(`renderHaproxyHop: hop ${hop.id} is of kind ${hop.kind}`);
  const facts = hopFacts(topology, hop);
  if (facts.stamp?.via === 'forward-auth') throw new TypeError(`renderHaproxyHop: hop ${hop.id}: HAProxy stamps natively (stamp.via: native)`);
  const hopDir = posix.join(context.outDir, hop.id);
  const header = [
    `# Rendered by stella-gateway for hop ${hop.id} (haproxy). See docs/gateways/haproxy.md.`,
    facts.stamp ? `# Needs ${HAPROXY_KEY_ENV} (base64 MAC key, kid ${v1StampKey(facts.stamp).kid}) and tls/*.pem links: prepareHaproxyHop().` : '# Needs the tls/*.pem links: prepareHaproxyHop().',
  ];
  const sections = [header.join('\n'), globalSection(facts), defaultsSection(facts), frontendSection(facts, hopDir), backendSection(facts, hopDir)];
  return [{ path: `${hop.id}/${HAPROXY_CONF_FILE}`, contents: `${sections.join('\n\n')}\n` }];
};

/**
 * `haproxy -W -db -f <hopDir>/haproxy.cfg`: master-worker (`-W`) with the master in the foreground
 * (`-db`) for the runtime to track by PID. The runtime adds the environment returned by
 * `prepareHaproxyHop` (the MAC key). SIGUSR2 to the master reloads: a new worker with the re-read
 * files, the old one finishes its connections.
 */
export const haproxyProgram: GatewayProgram = {
  check: (hopDir) => ({ command: 'haproxy', args: ['-c', '-f', posix.join(hopDir, HAPROXY_CONF_FILE)], env: { [HAPROXY_KEY_ENV]: CHECK_ONLY_KEY } }),
  run: (hopDir) => ({ command: 'haproxy', args: ['-W', '-db', '-f', posix.join(hopDir, HAPROXY_CONF_FILE)] }),
  reload: () => ({ kind: 'signal', signal: 'SIGUSR2' }),
};
