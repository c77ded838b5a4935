/**
 * Named model specs a deployment picks by name, so that `fedrank eval`, the server's `model.spec` and the docs
 * speak of the same settings. `private` is the spec for deployments that train under user-level DP.
 */
import { FedrankError } from '../errors.ts';
import { DEFAULT_SPEC, type ModelSpec } from './spec.ts';

/**
 * For private training (eval/PRIVATE-METHOD.md, Amazon Beauty validation): a privately trained global model
 * is weakly trained, so the on-device affinity term, which is learned on the device from its own clicks and
 * never uploaded, carries more of the ranking: personalWeight 4 (floor 0.0169 vs 0.0165 at 2; after 10
 * FedAdam rounds 0.0174 vs 0.0149 at 1). The model starts from the shop's catalog (public, no privacy cost):
 * item-id rows at std 0.01 and attribute rows at 0.1, so an untrained item vector is mostly its brand and
 * categories and items of one brand start close; at epsilon 8 (k = 2, M = 1,000) validation NDCG@10 0.0212
 * and 0.0216 against 0.0199 and 0.0201 from DEFAULT_SPEC's 0.05 for both. The shared tables keep
 * DEFAULT_SPEC's size: 1,024 hashed item-id rows instead of 8,192 scored 0.0165 (floor 0.0168). With the
 * catalog's attribute weights (catalog-weights.ts, the server's `model.catalog`) the on-device affinity
 * forgets faster, affinityDecay 0.7 (validation at epsilon 8: 0.0266, floor 0.0236; decay 0.8: 0.0262;
 * personalWeight 2, 8, 16: 0.0255, 0.0259, 0.0254).
 */
export const PRIVATE_SPEC: ModelSpec = {
  ...DEFAULT_SPEC,
  personalWeight: 4,
  initStd: 0.1,
  idInitStd: 0.01,
  affinityDecay: 0.7,
};

/** The named specs. */
export const SPEC_PRESETS: Readonly<Record<'default' | 'private', ModelSpec>> = {
  default: DEFAULT_SPEC,
  private: PRIVATE_SPEC,
};

/** The spec named `name`; FedrankError('BAD_REQUEST') naming the known ones otherwise. */
export function specPreset(name: string): ModelSpec {
  if (!Object.hasOwn(SPEC_PRESETS, name)) {
    throw new FedrankError(
      'BAD_REQUEST',
      `unknown model spec preset ${name} (known: ${Object.keys(SPEC_PRESETS).join(', ')})`,
    );
  }
  return { ...SPEC_PRESETS[name as keyof typeof SPEC_PRESETS] };
}
