/**
 * One client's part in one secure-aggregation round, as a pure state machine: each step takes the server's
 * message and returns the client's reply. The state is plain data (typed arrays and numbers), so a page can
 * persist it in IndexedDB and resume after navigation; round secrets are wiped when the round ends.
 *
 *   begin -> advertise-keys; roster -> share-keys; shares-in + update -> masked-input;
 *   unmask-request -> unmask (done).
 *
 * Safety rules enforced here, whatever the server says: every roster peer must be a neighbour in the
 * seed's graph; at least t neighbours must take part in each phase; a peer is either a survivor (its
 * self-seed share is revealed) or a dropout (its mask-key share is revealed), never both, across retries.
 */
import { FedrankError } from '../errors.ts';
import { SHARE_PLAINTEXT_BYTES } from './codec.ts';
import { graphSeed, roundRotation, roundSalt } from './derive.ts';
import { neighbourGraph } from './graph.ts';
import { generateKeyPair, importPrivateKey, open, pairKey, seal, shareAad } from './keys.ts';
import { pairMaskSeed, pairSign } from './masking.ts';
import { type MaskedVector, maskedVector } from './masked-input.ts';
import type {
  MaskedInput,
  PeerKeys,
  Roster,
  SecAggRoundParams,
  ShareKeys,
  SharesIn,
  ShareKind,
  Unmask,
  UnmaskRequest,
  AdvertiseKeys,
} from './messages.ts';
import type { RandomWords } from './random.ts';
import { decodeShareY, encodeShareY, SHARE_BYTES, splitSecret } from './shamir.ts';
import { type CryptoKeyLike, randomBytes, u32Bytes, wipe } from './webcrypto.ts';

// In browsers and Node >= 17; declared here because shared/ compiles without DOM or Node types.
declare const structuredClone: <T>(value: T) => T;

/** Where the client is in the round. */
export type ClientPhase = 'advertised' | 'shared' | 'masked' | 'done' | 'aborted';

/** The shares a neighbour entrusted to this client. */
export interface HeldShares {
  from: number;
  maskKey: Uint32Array;
  selfSeed: Uint32Array;
}

/** The client's round state: plain data, structured-clone safe. */
export interface ClientRoundState {
  phase: ClientPhase;
  round: number;
  slot: number;
  /** Share-encryption key pair (c) and masking key pair (s), raw X25519; self-mask seed b. Wiped at the end. */
  cSk: Uint8Array;
  cPk: Uint8Array;
  sSk: Uint8Array;
  sPk: Uint8Array;
  selfSeed: Uint8Array;
  params: SecAggRoundParams | null;
  peers: PeerKeys[];
  /** Neighbours whose shares arrived: the pairwise masks of the masked input. */
  maskedWith: number[];
  held: HeldShares[];
  /** What was revealed for whom (kept after the end so a replayed request cannot get the other kind). */
  revealed: { of: number; kind: ShareKind }[];
}

function refuse(
  code: 'SECAGG_WRONG_PHASE' | 'SECAGG_INCONSISTENT' | 'SECAGG_BELOW_THRESHOLD',
  detail: string,
): never {
  throw new FedrankError(code, detail);
}

/** The sealed plaintext of a share pair. */
function sharePlaintext(from: number, to: number, maskKey: Uint32Array, selfSeed: Uint32Array): Uint8Array {
  const out = new Uint8Array(SHARE_PLAINTEXT_BYTES);
  out.set(u32Bytes(from, to), 0);
  out.set(encodeShareY(maskKey), 8);
  out.set(encodeShareY(selfSeed), 8 + SHARE_BYTES);
  return out;
}

/** A client's round; create with `begin`, or `resume` from a persisted state. */
export class SecAggClientRound {
  /** Share-encryption keys derived in onRoster, reused by onSharesIn; memory only (a resume re-derives). */
  private shareKeys = new Map<number, Uint8Array>();

  private constructor(private s: ClientRoundState) {}

  private dropShareKeys(): void {
    for (const k of this.shareKeys.values()) wipe(k);
    this.shareKeys.clear();
  }

  /** Starts a round in `slot`: fresh keys and self-mask seed, and the advertise-keys message. */
  static async begin(
    round: number,
    slot: number,
  ): Promise<{ client: SecAggClientRound; message: AdvertiseKeys }> {
    const c = await generateKeyPair();
    const s = await generateKeyPair();
    const client = new SecAggClientRound({
      phase: 'advertised',
      round,
      slot,
      cSk: c.privateKey,
      cPk: c.publicKey,
      sSk: s.privateKey,
      sPk: s.publicKey,
      selfSeed: randomBytes(32),
      params: null,
      peers: [],
      maskedWith: [],
      held: [],
      revealed: [],
    });
    return { client, message: { type: 'advertise-keys', round, slot, cPk: c.publicKey, sPk: s.publicKey } };
  }

  /** Resumes from a state saved with `state()`. */
  static resume(state: ClientRoundState): SecAggClientRound {
    return new SecAggClientRound(structuredClone(state));
  }

  /** A copy of the state, to persist. */
  state(): ClientRoundState {
    return structuredClone(this.s);
  }

  get phase(): ClientPhase {
    return this.s.phase;
  }

  private expect(phase: ClientPhase, m: { round: number; slot: number }): void {
    if (this.s.phase !== phase) refuse('SECAGG_WRONG_PHASE', `client is in phase ${this.s.phase}`);
    if (m.round !== this.s.round || m.slot !== this.s.slot)
      refuse('SECAGG_INCONSISTENT', 'message is for another round or slot');
  }

  /** Phase 1: checks the roster against the seed's graph, then shares both secrets among the neighbours. */
  async onRoster(m: Roster): Promise<ShareKeys> {
    this.expect('advertised', m);
    const p = m.params;
    if (this.s.slot > p.n) refuse('SECAGG_INCONSISTENT', 'slot outside the cohort');
    const graph = await neighbourGraph(await graphSeed(p.seed, m.round), p.n, p.k);
    const mine = new Set(graph.neighbours(this.s.slot));
    if (m.peers.some((q) => !mine.has(q.slot))) refuse('SECAGG_INCONSISTENT', 'roster names a non-neighbour');
    if (m.peers.length < p.t) refuse('SECAGG_BELOW_THRESHOLD', `${m.peers.length} neighbours < t = ${p.t}`);
    const xs = m.peers.map((q) => q.slot);
    const keyShares = splitSecret(this.s.sSk, p.t, xs);
    const seedShares = splitSecret(this.s.selfSeed, p.t, xs);
    const salt = roundSalt(p.seed, m.round);
    const cKey = await importPrivateKey(this.s.cSk);
    this.dropShareKeys();
    const shares = await Promise.all(
      m.peers.map(async (q, i) => {
        const key = await pairKey(cKey, q.cPk, salt, 'share-encryption');
        this.shareKeys.set(q.slot, key);
        const pt = sharePlaintext(this.s.slot, q.slot, keyShares[i]!.y, seedShares[i]!.y);
        const sealed = await seal(key, pt, shareAad(salt, this.s.slot, q.slot));
        wipe(pt);
        return { peer: q.slot, sealed };
      }),
    );
    this.s.params = p;
    this.s.peers = m.peers;
    this.s.phase = 'shared';
    return { type: 'share-keys', round: m.round, slot: this.s.slot, shares };
  }

  /**
   * Phase 2: opens the shares addressed to this client, then masks the encoded update with the self mask
   * and the pairwise masks of every neighbour whose shares arrived. `input` (the unmasked encoding) is a
   * test seam for exact-sum checks; it never leaves the device.
   */
  async onSharesIn(
    m: SharesIn,
    update: Float32Array,
    r?: RandomWords,
  ): Promise<{ message: MaskedInput; input: Uint32Array }> {
    this.expect('shared', m);
    const p = this.s.params!;
    const salt = roundSalt(p.seed, m.round);
    const byslot = new Map(this.s.peers.map((q) => [q.slot, q]));
    let cKey: CryptoKeyLike | undefined; // imported only if a share key must be derived again (a resume)
    const held: HeldShares[] = [];
    for (const sh of m.shares) {
      const q = byslot.get(sh.peer);
      if (!q) refuse('SECAGG_INCONSISTENT', `shares from non-neighbour ${sh.peer}`);
      const key =
        this.shareKeys.get(q.slot) ??
        (await pairKey((cKey ??= await importPrivateKey(this.s.cSk)), q.cPk, salt, 'share-encryption'));
      const pt = await open(key, sh.sealed, shareAad(salt, sh.peer, this.s.slot));
      const v = pt && new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
      const maskKey = pt && decodeShareY(pt.subarray(8, 8 + SHARE_BYTES));
      const selfSeed = pt && decodeShareY(pt.subarray(8 + SHARE_BYTES));
      if (
        !v ||
        v.getUint32(0, true) !== sh.peer ||
        v.getUint32(4, true) !== this.s.slot ||
        !maskKey ||
        !selfSeed
      )
        refuse('SECAGG_INCONSISTENT', `shares from ${sh.peer} do not open`);
      held.push({ from: sh.peer, maskKey, selfSeed });
    }
    this.dropShareKeys();
    if (held.length < p.t)
      refuse('SECAGG_BELOW_THRESHOLD', `${held.length} neighbours shared keys < t = ${p.t}`);
    const e = p.encoding;
    const rot = await roundRotation(p.seed, m.round, e.d);
    const sKey = await importPrivateKey(this.s.sSk);
    const seeds = await Promise.all(held.map((h) => pairMaskSeed(sKey, byslot.get(h.from)!.sPk, salt)));
    let out: MaskedVector;
    try {
      out = await maskedVector(
        update,
        e,
        rot,
        [
          { seed: this.s.selfSeed, sign: 1 },
          ...held.map((h, i) => ({ seed: seeds[i]!, sign: pairSign(this.s.slot, h.from) })),
        ],
        r,
      );
    } finally {
      for (const s of seeds) wipe(s);
    }
    this.s.held = held;
    this.s.maskedWith = held.map((h) => h.from);
    this.s.phase = 'masked';
    // The own secrets are no longer needed: neighbours hold their shares.
    for (const k of [this.s.cSk, this.s.sSk, this.s.selfSeed]) wipe(k);
    const message: MaskedInput = {
      type: 'masked-input',
      round: m.round,
      slot: this.s.slot,
      bits: e.bits,
      d: e.d,
      data: out.data,
    };
    return { message, input: out.input };
  }

  /**
   * Phase 3: reveals self-seed shares of survivors and mask-key shares of dropouts, then wipes the round.
   * Persist `state()` before sending the reply: it records what was revealed, so that no later request
   * (after a reload) can obtain the other kind of share for the same peer.
   */
  onUnmaskRequest(m: UnmaskRequest): Unmask {
    this.expect('masked', m);
    const p = this.s.params!;
    const masked = new Set(this.s.maskedWith);
    const named = [...m.survivors, ...m.dropped];
    if (named.length !== masked.size || named.some((x) => !masked.has(x)))
      refuse('SECAGG_INCONSISTENT', 'survivors and dropouts must partition the neighbours masked with');
    if (m.survivors.length < p.t)
      refuse('SECAGG_BELOW_THRESHOLD', `${m.survivors.length} survivors < t = ${p.t}`);
    const want = new Map<number, ShareKind>();
    for (const x of m.survivors) want.set(x, 'self-seed');
    for (const x of m.dropped) want.set(x, 'mask-key');
    for (const r of this.s.revealed)
      if (want.has(r.of) && want.get(r.of) !== r.kind)
        refuse('SECAGG_INCONSISTENT', `peer ${r.of} already revealed as ${r.kind}`);
    const shares = this.s.held
      .filter((h) => want.has(h.from))
      .map((h) => {
        const kind = want.get(h.from)!;
        return { of: h.from, kind, y: (kind === 'self-seed' ? h.selfSeed : h.maskKey).slice() };
      })
      .sort((a, b) => a.of - b.of);
    this.s.revealed = shares.map((s) => ({ of: s.of, kind: s.kind }));
    this.finish('done');
    return { type: 'unmask', round: m.round, slot: this.s.slot, shares };
  }

  /** Ends the round early (deadline missed, round failed): wipes every secret. */
  abort(): void {
    this.finish('aborted');
  }

  private finish(phase: ClientPhase): void {
    this.dropShareKeys();
    for (const k of [this.s.cSk, this.s.sSk, this.s.selfSeed]) wipe(k);
    for (const h of this.s.held) {
      h.maskKey.fill(0);
      h.selfSeed.fill(0);
    }
    this.s.held = [];
    this.s.phase = phase;
  }
}
