/**
 * The secure-aggregation messages, one per phase and direction (Bonawitz et al. CCS 2017 rounds 0-3 with
 * the SecAgg+ neighbourhoods of Bell et al. CCS 2020). Every message names its round and the client's slot;
 * codec.ts is the one encoder and validator used by client and server.
 */
import type { EncodingParams } from './calibration.ts';

/** Public parameters of a secure round, sent to each client with its neighbours' keys. */
export interface SecAggRoundParams {
  /** Cohort size: slots are 1..n. */
  n: number;
  /** Neighbours per client (SecAgg+ degree; n - 1 for the complete graph of SecAgg). */
  k: number;
  /** Shamir threshold among a client's neighbours. */
  t: number;
  /** Fewest masked inputs the server may unmask (the noise is calibrated to it). */
  minSurvivors: number;
  /** 32-byte public round seed: neighbour graph, rotation, HKDF salt. */
  seed: Uint8Array;
  encoding: EncodingParams;
}

/** A neighbour's advertised public keys. */
export interface PeerKeys {
  slot: number;
  /** X25519 key for share encryption. */
  cPk: Uint8Array;
  /** X25519 key for pairwise masks. */
  sPk: Uint8Array;
}

/** An encrypted pair of shares between two neighbours, relayed by the server. */
export interface SealedShare {
  /** The other end: the recipient in ShareKeys, the sender in SharesIn. */
  peer: number;
  sealed: Uint8Array;
}

/** Which secret an unmask share belongs to: the survivor's self-mask seed, or the dropout's masking key. */
export type ShareKind = 'self-seed' | 'mask-key';

/** One revealed share in the unmask phase. */
export interface RevealedShare {
  /** Whose secret. */
  of: number;
  kind: ShareKind;
  /** The share's y values (its x is the sender's slot). */
  y: Uint32Array;
}

interface Base {
  round: number;
  slot: number;
}

/** Client -> server, phase 0: fresh public keys. */
export interface AdvertiseKeys extends Base {
  type: 'advertise-keys';
  cPk: Uint8Array;
  sPk: Uint8Array;
}

/** Server -> client, after phase 0: round parameters and the advertised keys of the client's neighbours. */
export interface Roster extends Base {
  type: 'roster';
  params: SecAggRoundParams;
  peers: PeerKeys[];
}

/** Client -> server, phase 1: one sealed share pair per neighbour in the roster. */
export interface ShareKeys extends Base {
  type: 'share-keys';
  shares: SealedShare[];
}

/** Server -> client, after phase 1: the sealed shares addressed to the client (their senders survived). */
export interface SharesIn extends Base {
  type: 'shares-in';
  shares: SealedShare[];
}

/** Client -> server, phase 2: the masked input y = x + self mask + sum of signed pairwise masks (mod 2^b). */
export interface MaskedInput extends Base {
  type: 'masked-input';
  bits: number;
  d: number;
  /** Packed at `bits` bits per element. */
  data: Uint8Array;
}

/** Server -> client, after phase 2: which of the client's neighbours sent a masked input and which dropped. */
export interface UnmaskRequest extends Base {
  type: 'unmask-request';
  survivors: number[];
  dropped: number[];
}

/** Client -> server, phase 3: self-seed shares of surviving neighbours, mask-key shares of dropped ones. */
export interface Unmask extends Base {
  type: 'unmask';
  shares: RevealedShare[];
}

/** Every secure-aggregation message. */
export type SecAggMessage =
  AdvertiseKeys | Roster | ShareKeys | SharesIn | MaskedInput | UnmaskRequest | Unmask;
