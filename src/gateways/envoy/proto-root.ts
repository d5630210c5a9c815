/**
 * The Envoy v3 API, loaded from the `.proto` files `@grpc/grpc-js-xds` ships (docs/gateways/envoy.md:
 * no Envoy binary exists on Debian 12 or npm, so configs are checked against the API schema).
 * Loading takes most of a second, so the root is built once per process and extended lazily:
 * an `Any` whose `@type` names a package not yet loaded loads that package's folder.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

/** The message every bootstrap file is. */
export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

let cached: { root: protobuf.Root; includeDirs: string[]; loadedPackages: Set<string> } | undefined;

/** Where the proto trees live: the xds package's deps, and protobufjs's own google/protobuf. */
function includeDirs(): string[] {
  const require = createRequire(import.meta.url);
  let deps: string;
  let protobufDir: string;
  try {
    deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
    protobufDir = dirname(require.resolve('protobufjs/package.json'));
  } catch (error) {
    throw new Error('the Envoy API check needs the npm packages @grpc/grpc-js-xds and protobufjs (npm ci installs them)', { cause: error });
  }
  return [join(deps, 'envoy-api'), join(deps, 'xds'), join(deps, 'googleapis'), join(deps, 'protoc-gen-validate'), protobufDir];
}

/** The API root with the bootstrap and everything it imports; built on first use and cached. */
export function envoyApi(): protobuf.Root {
  if (!cached) {
    const dirs = includeDirs();
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
    root.loadSync('envoy/config/bootstrap/v3/bootstrap.proto', { keepCase: true });
    root.resolveAll();
    cached = { root, includeDirs: dirs, loadedPackages: new Set() };
  }
  return cached.root;
}

/**
 * Looks a message or enum up by its full name (no leading dot), loading the `.proto` files of its
 * package on a miss (e.g. `envoy.extensions.filters.http.ext_authz.v3.ExtAuthz` loads
 * `envoy/extensions/filters/http/ext_authz/v3/*.proto`). Returns undefined for unknown names.
 */
export function lookupApiType(fullName: string): protobuf.Type | protobuf.Enum | undefined {
  const root = envoyApi();
  const found = tryLookup(root, fullName);
  if (found) return found;
  const state = cached!;
  const pkg = fullName.slice(0, fullName.lastIndexOf('.'));
  if (!/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/.test(pkg) || state.loadedPackages.has(pkg)) return undefined;
  state.loadedPackages.add(pkg);
  const rel = pkg.split('.').join('/');
  for (const dir of state.includeDirs) {
    const folder = join(dir, rel);
    if (!existsSync(folder)) continue;
    const files = readdirSync(folder).filter((f) => f.endsWith('.proto')).map((f) => join(rel, f));
    if (files.length === 0) continue;
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
  }
  return tryLookup(root, fullName);
}

function tryLookup(root: protobuf.Root, fullName: string): protobuf.Type | protobuf.Enum | undefined {
  const found = root.lookup(fullName);
  return found instanceof protobuf.Type || found instanceof protobuf.Enum ? found : undefined;
}
