/**
 * The version `stella-gateway --version` prints: package.json's own, read at run time so that it is
 * written in one place. src/cli/ and dist/cli/ both sit two folders below the package root.
 */
import { createRequire } from 'node:module';

/** The package's name and version, from its package.json. */
export const PACKAGE = createRequire(import.meta.url)('../../package.json') as { readonly name: string; readonly version: string };
