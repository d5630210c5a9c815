/**
 * The one table of gateway kinds (docs/CONVENTIONS.md#gateway-behaviour-every-renderer-implements):
 * each line is the module `src/gateways/<kind>/index.ts` exports — its renderer, its program
 * (check, run, graceful reload), its preparation, its in-process check if any and how its systemd
 * unit runs. The record is keyed by every `HopKind`, so a kind added to the schema fails to compile
 * here until its folder and its line exist; callers look a hop's kind up here and never switch on it.
 */
import type { HopKind } from '../topology/schema.js';
import { apacheKind } from './apache/index.js';
import { caddyKind } from './caddy/index.js';
import { envoyKind } from './envoy/index.js';
import { haproxyKind } from './haproxy/index.js';
import { nginxKind } from './nginx/index.js';
import type { GatewayKindModule } from './types.js';

/** Every gateway kind's module, by kind. */
export const GATEWAY_KINDS: Readonly<Record<HopKind, GatewayKindModule>> = Object.freeze({
  nginx: nginxKind,
  haproxy: haproxyKind,
  'apache-modsecurity': apacheKind,
  caddy: caddyKind,
  envoy: envoyKind,
});

/**
 * The module of a hop kind.
 * @throws {TypeError} for a name that is not a kind (input that skipped the topology schema).
 */
export function gatewayKind(kind: HopKind): GatewayKindModule {
  const module = Object.hasOwn(GATEWAY_KINDS, kind) ? GATEWAY_KINDS[kind] : undefined;
  if (!module) throw new TypeError(`no gateway kind "${String(kind)}"`);
  return module;
}
