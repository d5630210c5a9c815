/**
 * The topology rules of provenance version 2 (docs/topology.md#fields, docs/provenance.md#part-2-version-2):
 * which keys each profile needs, which gateway can sign which algorithm natively, and that every
 * chain shares a version its service can check. Pure.
 */
import { NATIVE_STAMP_KINDS, NATIVE_V2_ALGS, type V2StampAlg } from './schema.js';
import type { RuleInput } from './validate.js';

/** Reports every v2 problem through `add`. */
export function v2Problems(topology: RuleInput, add: (path: string, message: string) => void): void {
  topology.hops.forEach((hop, i) => {
    if (hop.stamp === false) return;
    const at = `hops[${i}].stamp`;
    const profile = hop.stamp.profile ?? 'v1';
    const { signing } = hop.stamp;
    if (profile !== 'v2' && (hop.stamp.keys ?? []).length === 0) add(`${at}.keys`, `a hop stamping ${profile} needs at least one MAC key`);
    if (profile === 'v2' && (hop.stamp.keys ?? []).length > 0) add(`${at}.keys`, 'v1 MAC keys are only used with profile v1 or both');
    if (profile === 'v1') {
      if (signing) add(`${at}.signing`, 'only used with profile v2 or both');
      return;
    }
    if (!signing) return void add(`${at}.signing`, `required for profile ${profile} (alg and keys)`);
    if (hop.stamp.via === 'native' && NATIVE_STAMP_KINDS.has(hop.kind)) {
      // What each program can sign itself (docs/provenance.md#v2-algorithms): HAProxy's Lua has no
      // Ed25519; NGINX's module stamps v1 only, so v2 there goes through the forward-auth stamper.
      const native: readonly V2StampAlg[] = NATIVE_V2_ALGS[hop.kind];
      if (native.length === 0) add(`${at}.profile`, `a native ${hop.kind} hop stamps v1 only; use via: forward-auth for v2`);
      else if (!native.includes(signing.alg)) add(`${at}.signing.alg`, `a native ${hop.kind} hop cannot sign ${signing.alg}; use ${native.join(' or ')}`);
    }
    signing.keys.forEach((k, j) => {
      if (signing.alg === 'hmac-sha256' && k.publicFile !== undefined) add(`${at}.signing.keys[${j}].publicFile`, 'an hmac-sha256 key has no public half');
      if (signing.alg !== 'hmac-sha256' && k.publicFile === undefined) add(`${at}.signing.keys[${j}].publicFile`, `required for ${signing.alg}: services and auditors verify with the public key only`);
    });
  });

  topology.services.forEach((service, i) => {
    const stamping = chainOf(topology, service.id).filter((h) => h.stamp !== false);
    if (stamping.length === 0) return; // chainProblems reports it
    const profiles = stamping.map((h) => (h.stamp === false ? 'v1' : (h.stamp.profile ?? 'v1')));
    const v1 = profiles.every((p) => p !== 'v2');
    const v2 = profiles.every((p) => p !== 'v1');
    if (service.provenance?.require === 'v2' && !v2) {
      add(`services[${i}].provenance.require`, `every stamping hop in front of "${service.id}" must stamp v2 (profile v2 or both); ${stamping.filter((_, j) => profiles[j] === 'v1').map((h) => h.id).join(', ')} stamp v1 only`);
    } else if (!v1 && !v2) {
      add(`services[${i}]`, `the stamping hops in front of "${service.id}" share no provenance version (${stamping.map((h, j) => `${h.id}: ${profiles[j]}`).join(', ')}); make the v1 ones both, or the v2 ones both`);
    }
  });
}

function chainOf(topology: RuleInput, serviceId: string): RuleInput['hops'][number][] {
  const chain: RuleInput['hops'][number][] = [];
  let target = serviceId;
  for (let guard = 0; guard <= topology.hops.length; guard++) {
    const before = topology.hops.find((h) => h.next === target);
    if (!before || chain.includes(before)) break;
    chain.unshift(before);
    target = before.id;
  }
  return chain;
}
