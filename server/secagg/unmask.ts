/**
 * The server's last step: from the revealed shares, recover each survivor's self-mask seed and each
 * dropout's masking key (only with at least t shares each), remove the self masks and the dropouts'
 * orphaned pairwise masks from the masked sum, and what remains is the exact sum of the survivors' inputs.
 */
import type { NeighbourGraph } from '../../shared/secagg/graph.ts';
import { roundSalt } from '../../shared/secagg/derive.ts';
import { importPrivateKey } from '../../shared/secagg/keys.ts';
import { applyMasks, type MaskTerm, pairMaskSeed, pairSign } from '../../shared/secagg/masking.ts';
import type { PeerKeys, RevealedShare } from '../../shared/secagg/messages.ts';
import { combineShares, type Share } from '../../shared/secagg/shamir.ts';
import type { SecAggRoundRecord } from './store.ts';

/** Secrets that cannot be recovered yet (fewer than t shares), by kind. */
export interface Missing {
  selfSeeds: number[];
  maskKeys: number[];
}

/** Collects, per secret owner, the shares revealed for it (x = the revealing client's slot). */
function collect(
  unmasks: { from: number; shares: RevealedShare[] }[],
  kind: RevealedShare['kind'],
): Map<number, Share[]> {
  const out = new Map<number, Share[]>();
  for (const u of unmasks)
    for (const s of u.shares) {
      if (s.kind !== kind) continue;
      const list = out.get(s.of) ?? [];
      list.push({ x: u.from, y: s.y });
      out.set(s.of, list);
    }
  return out;
}

/** Dropouts (U2 minus U3) whose pairwise masks are in the sum: those with a surviving neighbour. */
function orphanOwners(r: SecAggRoundRecord, g: NeighbourGraph): number[] {
  const masked = new Set(r.masked);
  return r.shared.filter((v) => !masked.has(v) && g.neighbours(v).some((u) => masked.has(u)));
}

/** Which secrets still lack t shares (empty lists: the round can be unmasked). */
export function missingSecrets(
  r: SecAggRoundRecord,
  g: NeighbourGraph,
  unmasks: { from: number; shares: RevealedShare[] }[],
): Missing {
  const t = r.params.t;
  const seeds = collect(unmasks, 'self-seed');
  const keys = collect(unmasks, 'mask-key');
  return {
    selfSeeds: r.masked.filter((u) => (seeds.get(u)?.length ?? 0) < t),
    maskKeys: orphanOwners(r, g).filter((v) => (keys.get(v)?.length ?? 0) < t),
  };
}

/**
 * Unmasks `sum` (the ring sum of U3's masked inputs) in place. Throws when a secret lacks t shares or its
 * shares do not combine (a malformed share): the caller fails the round rather than release anything.
 */
export async function unmaskSum(
  r: SecAggRoundRecord,
  g: NeighbourGraph,
  adverts: PeerKeys[],
  unmasks: { from: number; shares: RevealedShare[] }[],
  sum: Uint32Array,
): Promise<void> {
  const { t, encoding, seed } = r.params;
  const bits = encoding.bits;
  const missing = missingSecrets(r, g, unmasks);
  if (missing.selfSeeds.length || missing.maskKeys.length)
    throw new Error('below the threshold: refusing to unmask');
  // Every seed is recovered (and a bad share found) before any mask is applied; at b = 16 the masks are
  // removed from a Uint16Array copy, two elements per word (lanes16.ts), then copied back.
  const terms: MaskTerm[] = [];
  const seeds = collect(unmasks, 'self-seed');
  for (const u of r.masked) {
    const b = combineShares(seeds.get(u)!.slice(0, t));
    if (!b) throw new Error(`self-mask seed of ${u} does not reconstruct`);
    terms.push({ seed: b, sign: -1 });
  }
  const keys = collect(unmasks, 'mask-key');
  const sPk = new Map(adverts.map((a) => [a.slot, a.sPk]));
  const masked = new Set(r.masked);
  const salt = roundSalt(seed, r.round);
  for (const v of orphanOwners(r, g)) {
    const sk = combineShares(keys.get(v)!.slice(0, t));
    if (!sk) throw new Error(`masking key of ${v} does not reconstruct`);
    const key = await importPrivateKey(sk);
    for (const u of g.neighbours(v)) {
      if (!masked.has(u)) continue;
      // u added pairSign(u, v) * PRG(s_uv); the seed is symmetric, so v's key and u's public key give it.
      const s = await pairMaskSeed(key, sPk.get(u)!, salt);
      terms.push({ seed: s, sign: pairSign(u, v) === 1 ? -1 : 1 });
    }
    sk.fill(0);
  }
  const acc = bits === 16 ? new Uint16Array(sum.length) : sum;
  if (acc !== sum) acc.set(sum);
  await applyMasks(acc, terms, bits);
  if (acc !== sum) sum.set(acc);
}
