/**
 * The Envoy API check, loaded on first use. It is the only part that needs `protobufjs` and the
 * `.proto` trees of `@grpc/grpc-js-xds` (19 MB), so they are optional peer dependencies
 * (docs/gateways/envoy.md#the-check-is-an-optional-install): rendering, running and every service
 * work without them, and only `gateway check-envoy` / `gateway render --check` of an Envoy hop ask
 * for them, with the command that installs them.
 */
import { createRequire } from 'node:module';
import { StellaError } from '../../errors/base.js';
import { GATEWAY_ERRORS } from '../errors.js';
import type { EnvoyConfigProblem } from './check.js';

/**
 * The packages the check needs and the versions it is written for. package.json's
 * `peerDependencies` say the same (test/package-deps.test.ts keeps them equal).
 */
export const ENVOY_CHECK_PACKAGES: Readonly<Record<string, string>> = {
  '@grpc/grpc-js-xds': '^1.14.1',
  protobufjs: '^7.6.6',
};

/** The npm command that installs {@link ENVOY_CHECK_PACKAGES} beside stella-gateway. */
export const ENVOY_CHECK_INSTALL = `npm install ${Object.entries(ENVOY_CHECK_PACKAGES).map(([name, range]) => `${name}@${range}`).join(' ')}`;

/** The Envoy API check cannot run: a package it needs is not installed. */
export class EnvoyCheckUnavailableError extends StellaError {
  readonly code = 'ENVOY_CHECK_UNAVAILABLE';

  /** {@link GATEWAY_ERRORS}. */
  get registry(): typeof GATEWAY_ERRORS {
    return GATEWAY_ERRORS;
  }
}

type CheckFn = (config: unknown, typeName?: string) => EnvoyConfigProblem[];
let loaded: Promise<CheckFn> | undefined;

/**
 * Loads the check (once per process) and returns it; rejects with
 * {@link EnvoyCheckUnavailableError} naming {@link ENVOY_CHECK_INSTALL} when a package is missing.
 *
 * @example
 * const check = await loadEnvoyCheck();
 * check(await readFile('gw-edge/envoy.yaml', 'utf8')); // [] when the API accepts it
 */
export function loadEnvoyCheck(): Promise<CheckFn> {
  loaded ??= (async () => {
    const require = createRequire(import.meta.url);
    const missing = Object.keys(ENVOY_CHECK_PACKAGES).filter((name) => {
      try {
        require.resolve(`${name}/package.json`);
        return false;
      } catch {
        return true;
      }
    });
    if (missing.length > 0) {
      throw new EnvoyCheckUnavailableError(`the Envoy API check needs ${missing.join(' and ')}, not installed here; install with: ${ENVOY_CHECK_INSTALL}`);
    }
    const { checkEnvoyConfig } = await import('./check.js');
    return checkEnvoyConfig;
  })();
  // A failed load is not cached: installing the packages fixes it for the next call.
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
}
