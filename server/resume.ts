/**
 * What the aggregator resumes from: the store's persisted state, or a fresh store initialized with the
 * model's initial weights and round 1; refused when the store holds another model than the configuration's.
 */
import { FedrankError } from '../shared/errors.ts';
import { newAdamState } from '../shared/fl/aggregate.ts';
import type { Log } from './aggregator.ts';
import type { ServerConfig } from './config.ts';
import type { ModelSource } from './model-source.ts';
import { newRound } from './round-close.ts';
import type { RoundRecord, Store, StoredState } from './store/types.ts';

/** The persisted state of `store`, initializing a fresh one first. */
export async function loadOrInitialize(
  config: ServerConfig,
  model: ModelSource,
  store: Store,
  log: Log,
  now: () => number,
): Promise<StoredState> {
  let state = await store.load();
  if (!state) {
    const params = model.init();
    const adam = config.optimizer.kind === 'fedadam' ? newAdamState(model.paramCount) : null;
    const first: RoundRecord = newRound(1, 0, new Date(now()).toISOString());
    try {
      await store.initialize({ modelId: model.modelId, version: 0, params, adam }, first, model.paramCount);
    } catch (err) {
      // Shared store: another process initialized it at the same moment; resume from its state.
      if (!store.shared) throw err;
    }
    state = await store.load();
    if (!state) throw new FedrankError('STORE_CORRUPT', 'store did not keep the initial model');
    log.info({ modelId: model.modelId, params: model.paramCount }, 'initialized a fresh store');
  }
  if (state.model.modelId !== model.modelId || state.model.params.length !== model.paramCount) {
    throw new FedrankError(
      'CONFIG_INVALID',
      `the database holds model ${state.model.modelId} (${state.model.params.length} params) but the configuration describes ${model.modelId} (${model.paramCount}); use another --db`,
    );
  }
  return state;
}
