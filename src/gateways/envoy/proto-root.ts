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

/**
 * A package whose `.proto` files did not load (a v2 package, whose imports `@grpc/grpc-js-xds` no
 * longer ships), with the reason. Kept outside the cached root: a failed load is not retried.
 */
const failedPackages = new Map<string, string>();

let cached: { root: protobuf.Root; includeDirs: string[]; loadedPackages: string[] } | undefined;

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
    cached = { root, includeDirs: dirs, loadedPackages: [] };
  }
  return cached.root;
}

/**
 * Why the package of `fullName` could not be loaded, or undefined. The Envoy v2 API was removed
 * from Envoy (1.18) and from the shipped `.proto` trees, so a v2 type URL is named as such.
 */
export function apiLoadFailure(fullName: string): string | undefined {
  const pkg = packageOf(fullName);
  if (/^envoy\./.test(pkg) && pkg.split('.').some((part) => /^v2(alpha\d*)?$/.test(part))) {
    return `${fullName} belongs to the Envoy v2 API, which Envoy no longer loads; use its v3 type`;
  }
  return failedPackages.get(pkg);
}

const packageOf = (fullName: string): string => fullName.slice(0, Math.max(0, fullName.lastIndexOf('.')));

/**
 * Looks a message or enum up by its full name (no leading dot), loading the `.proto` files of its
 * package on a miss (e.g. `envoy.extensions.filters.http.ext_authz.v3.ExtAuthz` loads
 * `envoy/extensions/filters/http/ext_authz/v3/*.proto`). Returns undefined for unknown names.
 */
export function lookupApiType(fullName: string): protobuf.Type | protobuf.Enum | undefined {
  const found = tryLookup(envoyApi(), fullName);
  if (found) return found;
  const pkg = packageOf(fullName);
  if (!/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/.test(pkg) || apiLoadFailure(fullName) !== undefined || cached!.loadedPackages.includes(pkg)) return undefined;
  try {
    loadPackage(cached!, pkg);
    cached!.loadedPackages.push(pkg);
  } catch (error) {
    // A failed load leaves half-resolved types in the root: rebuild it from the packages that loaded.
    failedPackages.set(pkg, `the API files of ${pkg} do not load: ${(error as Error).message}`);
    const good = cached!.loadedPackages;
    cached = undefined;
    envoyApi();
    for (const p of good) loadPackage(cached!, p);
    cached!.loadedPackages.push(...good);
    return undefined;
  }
  return tryLookup(cached!.root, fullName);
}

function loadPackage(state: NonNullable<typeof cached>, pkg: string): void {
  const rel = pkg.split('.').join('/');
  for (const dir of state.includeDirs) {
    const folder = join(dir, rel);
    if (!existsSync(folder)) continue;
    const files = readdirSync(folder).filter((f) => f.endsWith('.proto')).map((f) => join(rel, f));
    if (files.length === 0) continue;
    state.root.loadSync(files, { keepCase: true });
    state.root.resolveAll();
  }
}

function tryLookup(root: protobuf.Root, fullName: string): protobuf.Type | protobuf.Enum | undefined {
  const found = root.lookup(fullName);
  return found instanceof protobuf.Type || found instanceof protobuf.Enum ? found : undefined;
}
