/**
 * The conventions floor (docs/CONVENTIONS.md#the-conventions-floor): the facts every part agrees on —
 * identifier formats, `host:port`, the PKI layout and roles, key-file limits, header names and
 * health paths — each written once. It sits at the bottom of the import graph: it imports nothing
 * of the project, and everything else imports it.
 */
export * from './identifiers.js';
export * from './address.js';
export * from './pki-layout.js';
export * from './key-files.js';
export * from './http.js';
