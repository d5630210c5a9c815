/**
 * The start-up checks of Envoy that the API schema cannot express (docs/gateways/envoy.md#what-the-check-covers):
 * names that refer to other resources (a route's cluster, an `ext_authz` server's cluster, a static
 * secret) must exist, names must be unique, a listener needs a filter chain and an HTTP filter chain
 * ends with its terminal filter. The walk in check.ts records every name it meets here; the
 * per-message rules run on each message of their type.
 */
import type { AddProblem } from './rules.js';

/** What a name names. */
export type NameKind = 'cluster' | 'secret' | 'listener';

/** A name met in the config: declared by a resource, or used to refer to one. */
export interface NameSite {
  readonly kind: NameKind;
  readonly role: 'declares' | 'uses';
  readonly name: string;
  readonly path: string;
}

interface NameField {
  readonly kind: NameKind;
  readonly role: 'declares' | 'uses';
  /** The reference is resolved elsewhere (xDS) when this sibling field is set. */
  readonly unlessSibling?: string;
}

/** Message type → field → what its string value names. */
const NAME_FIELDS: Record<string, Record<string, NameField>> = {
  'envoy.config.cluster.v3.Cluster': { name: { kind: 'cluster', role: 'declares' } },
  'envoy.extensions.transport_sockets.tls.v3.Secret': { name: { kind: 'secret', role: 'declares' } },
  'envoy.config.listener.v3.Listener': { name: { kind: 'listener', role: 'declares' } },
  'envoy.config.route.v3.RouteAction': { cluster: { kind: 'cluster', role: 'uses' } },
  'envoy.config.route.v3.RouteAction.RequestMirrorPolicy': { cluster: { kind: 'cluster', role: 'uses' } },
  'envoy.config.route.v3.WeightedCluster.ClusterWeight': { name: { kind: 'cluster', role: 'uses' } },
  'envoy.config.core.v3.HttpUri': { cluster: { kind: 'cluster', role: 'uses' } },
  'envoy.config.core.v3.GrpcService.EnvoyGrpc': { cluster_name: { kind: 'cluster', role: 'uses' } },
  'envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig': { name: { kind: 'secret', role: 'uses', unlessSibling: 'sds_config' } },
};

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Records the names a message of `typeName` declares or uses. */
export function collectNames(typeName: string, value: Record<string, unknown>, path: string, sites: NameSite[]): void {
  const fields = NAME_FIELDS[typeName];
  if (!fields) return;
  const keys = new Set(Object.keys(value).map(snake));
  for (const [key, raw] of Object.entries(value)) {
    const field = fields[snake(key)];
    if (!field || typeof raw !== 'string') continue;
    if (field.unlessSibling && keys.has(field.unlessSibling)) continue;
    sites.push({ kind: field.kind, role: field.role, name: raw, path: path ? `${path}.${key}` : key });
  }
}

/**
 * Every use must name a declared resource and no resource is declared twice. Clusters and secrets
 * may also come from xDS: when the bootstrap has `dynamic_resources`, only duplicates are checked.
 */
export function checkNames(sites: readonly NameSite[], dynamic: boolean, add: AddProblem): void {
  const declared = new Map<string, string>();
  for (const site of sites.filter((s) => s.role === 'declares')) {
    const key = `${site.kind}:${site.name}`;
    const first = declared.get(key);
    if (first !== undefined) add(site.path, `duplicate ${site.kind} name ${JSON.stringify(site.name)} (first at ${first})`);
    else declared.set(key, site.path);
  }
  if (dynamic) return;
  const where: Record<NameKind, string> = { cluster: 'static_resources.clusters', secret: 'static_resources.secrets', listener: 'static_resources.listeners' };
  for (const site of sites.filter((s) => s.role === 'uses')) {
    if (!declared.has(`${site.kind}:${site.name}`)) add(site.path, `refers to ${site.kind} ${JSON.stringify(site.name)}, which ${where[site.kind]} does not define`);
  }
}

const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
const typeOf = (filter: unknown): string | undefined => {
  const config = isObject(filter) ? (filter['typed_config'] ?? filter['typedConfig']) : undefined;
  const url = isObject(config) ? config['@type'] : undefined;
  return typeof url === 'string' ? url.slice(url.lastIndexOf('/') + 1) : undefined;
};
const list = (value: Record<string, unknown>, key: string): unknown[] | undefined => {
  const v = value[key] ?? value[key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())];
  return Array.isArray(v) ? v : undefined;
};

/** Message type → the rule Envoy applies to each message of that type when it starts. */
const MESSAGE_RULES: Record<string, (value: Record<string, unknown>, path: string, add: AddProblem) => void> = {
  'envoy.config.listener.v3.Listener': (value, path, add) => {
    const chains = list(value, 'filter_chains') ?? [];
    const hasDefault = isObject(value['default_filter_chain'] ?? value['defaultFilterChain']);
    if (chains.length === 0 && !hasDefault && !isObject(value['api_listener'] ?? value['apiListener'])) add(path, 'a listener needs a filter chain (filter_chains or default_filter_chain)');
  },
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': (value, path, add) => {
    const filters = list(value, 'http_filters');
    if (!filters || filters.length === 0) return;
    filters.forEach((filter, i) => {
      const last = i === filters.length - 1;
      const at = `${path}.http_filters[${i}]`;
      if (!last && typeOf(filter) === ROUTER) add(at, 'the router is a terminal filter and must be the last HTTP filter');
      if (last && typeOf(filter) !== ROUTER) add(at, `the last HTTP filter must be the terminal router (${ROUTER})`);
    });
  },
  'envoy.config.route.v3.RouteConfiguration': (value, path, add) => {
    const seen = new Map<string, string>();
    (list(value, 'virtual_hosts') ?? []).forEach((host, i) => {
      const domains = isObject(host) && Array.isArray(host['domains']) ? host['domains'] : [];
      domains.forEach((domain, j) => {
        if (typeof domain !== 'string') return;
        const at = `${path}.virtual_hosts[${i}].domains[${j}]`;
        const first = seen.get(domain.toLowerCase());
        if (first !== undefined) add(at, `duplicate domain ${JSON.stringify(domain)} (first at ${first})`);
        else seen.set(domain.toLowerCase(), at);
      });
    });
  },
};

/** Runs the start-up rule of `typeName`, if it has one. */
export function checkMessageRule(typeName: string, value: Record<string, unknown>, path: string, add: AddProblem): void {
  MESSAGE_RULES[typeName]?.(value, path, add);
}
