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
 * FedAdam rounds 0.0174 vs 0.0149 at 1). The shared tables stay DEFAULT_SPEC's: at epsilon 8 as k = 2
 * contributions over cohorts of 1,000, 8,192 hashed item-id rows scored validation NDCG@10 0.0191 (floor
 * 0.0169) and 1,024 rows 0.0165 (floor 0.0168): item identity is worth more than denser rows.
 */
export const PRIVATE_SPEC: ModelSpec = { ...DEFAULT_SPEC, personalWeight: 4 };

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
