/**
 * The HAProxy hop renderer (docs/gateways/README.md): `<hop id>/haproxy.cfg`, and `<hop id>/stella-v2.lua` for a
 * hop that stamps provenance v2. HAProxy stamps v1 natively with its `hmac` converter and v2 with
 * a Lua action (docs/provenance.md#part-2-version-2); keys come from the environment, never from a
 * rendered file.
 * What each section does and how to adapt it by hand: docs/gateways/haproxy.md.
 */
import { posix } from 'node:path';
import type { GatewayKindModule, GatewayProgram, HopRenderer } from '../types.js';
import { hopFacts } from '../hop-facts.js';
import { backendSection, defaultsSection, frontendSection, globalSection, HAPROXY_KEY_ENV } from './config.js';
import { HAPROXY_V2_KEY_ENV, HAPROXY_V2_LUA_FILE, v2Constants, v2LuaModule } from './v2.js';
import { checkOnlyEnvironment } from './check-keys.js';
import { prepareHaproxyHop } from './runtime.js';

export { HAPROXY_KEY_ENV, HAPROXY_TLS_FILES } from './config.js';
export { HAPROXY_V2_KEY_ENV, HAPROXY_V2_LUA_FILE, v2Label } from './v2.js';
export { GatewayFilesError, haproxyKeyEnvironment, linkHaproxyCertificates, prepareHaproxyHop } from './runtime.js';

/** The configuration file inside the hop folder. */
export const HAPROXY_CONF_FILE = 'haproxy.cfg';

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
  const v2 = facts.stamp ? v2Constants(hop.id, facts.stamp, facts.isEdge) : null;
  const needs = [
    ...(facts.stamp?.key ? [`${HAPROXY_KEY_ENV} (base64 MAC key, kid ${facts.stamp.key.kid})`] : []),
    ...(v2 ? [`${HAPROXY_V2_KEY_ENV} (${v2.alg} key, kid ${v2.kid})`] : []),
    'tls/*.pem links',
  ];
  const header = [
    `# Rendered by stella-gateway for hop ${hop.id} (haproxy). See docs/gateways/haproxy.md.`,
    `# Needs ${needs.join(' and ')}: prepareHaproxyHop().`,
  ];
  const sections = [header.join('\n'), globalSection(facts, hopDir), defaultsSection(facts), frontendSection(facts, hopDir), backendSection(facts, hopDir)];
  const files = [{ path: `${hop.id}/${HAPROXY_CONF_FILE}`, contents: `${sections.join('\n\n')}\n` }];
  if (v2) files.push({ path: `${hop.id}/${HAPROXY_V2_LUA_FILE}`, contents: v2LuaModule(v2) });
  return files;
};

/**
 * `haproxy -W -db -f <hopDir>/haproxy.cfg`: master-worker (`-W`) with the master in the foreground
 * (`-db`) for the runtime to track by PID. The runtime adds the environment returned by
 * `prepareHaproxyHop` (the v1 MAC key, the v2 signing key). SIGUSR2 to the master reloads: a new worker with the re-read
 * files, the old one finishes its connections.
 */
export const haproxyProgram: GatewayProgram = {
  check: (hopDir, hop) => ({ command: 'haproxy', args: ['-c', '-f', posix.join(hopDir, HAPROXY_CONF_FILE)], env: checkOnlyEnvironment(hop) }),
  run: (hopDir) => ({ command: 'haproxy', args: ['-W', '-db', '-f', posix.join(hopDir, HAPROXY_CONF_FILE)] }),
  reload: () => ({ kind: 'signal', signal: 'SIGUSR2' }),
};

/** The HAProxy kind (one line of `GATEWAY_KINDS`): its certificate links and its keys as environment. */
export const haproxyKind: GatewayKindModule = {
  render: renderHaproxyHop,
  program: haproxyProgram,
  prepare: (hop, hopDir) => prepareHaproxyHop(hopDir, hop),
};
