/**
 * The Learner port over the shared Ranker (tfjs): each training pass on a ranker of its own, cooperative
 * (awaiting `yieldFn` between mini-batches, so a worker keeps serving rank() calls); scoring on the
 * adapter's ranker of the current global model.
 */
import { trainLocalAsync } from '../fl/local-update.ts';
import type { NegativeSource } from '../fl/local-update.ts';
import type { EncodedItem } from '../model/features.ts';
import { Ranker } from '../model/ranker.ts';
import type { TrainingExample, UserContext } from '../model/ranker.ts';
import type { Learner } from './ports.ts';
import type { ModelRecord } from './records.ts';

export class RankerLearner implements Learner {
  /**
   * `current` returns the ranker holding the model's global parameters (or null: one is made for the
   * call); `yieldFn` lets other work run between training steps.
   */
  constructor(
    private readonly current: (model: ModelRecord) => Ranker | null,
    private readonly yieldFn: () => Promise<void> = () => Promise.resolve(),
  ) {}

  async train(
    model: ModelRecord,
    examples: TrainingExample[],
    negatives: NegativeSource,
  ): Promise<Float32Array> {
    // A ranker of its own: rank() calls served between training steps keep using the released model.
    const trainer = new Ranker(model.manifest.spec, model.params);
    try {
      const t = model.manifest.training;
      return (await trainLocalAsync(trainer, model.params, examples, t, this.yieldFn, negatives)).delta;
    } finally {
      trainer.dispose();
    }
  }

  async score(model: ModelRecord, ctx: UserContext, items: EncodedItem[]): Promise<ArrayLike<number>> {
    const r = this.current(model);
    if (r) return r.scoreAsync(ctx, items);
    const own = new Ranker(model.manifest.spec, model.params);
    try {
      return await own.scoreAsync(ctx, items);
    } finally {
      own.dispose();
    }
  }
}
