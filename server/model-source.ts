/** The one place the server builds its model: spec from config over the shared default, id, size, init. */
import { FedrankError } from '../shared/errors.ts';
import {
  DEFAULT_SPEC,
  initGlobalParams,
  modelIdOf,
  paramCount,
  parseSpec,
  type ModelSpec,
} from '../shared/model/spec.ts';
import type { ServerConfig } from './config.ts';

/** What the server needs to know about the model it aggregates. */
export interface ModelSource {
  spec: ModelSpec;
  modelId: string;
  paramCount: number;
  /** Fresh initial global parameters (deterministic for a seed). */
  init(): Float32Array;
}

/** The configured model: `config.model.spec` fields override the shared DEFAULT_SPEC. */
export function modelFromConfig(config: ServerConfig): ModelSource {
  let spec: ModelSpec;
  try {
    spec = parseSpec({ ...DEFAULT_SPEC, ...(config.model.spec ?? {}) });
  } catch (err) {
    throw new FedrankError('CONFIG_INVALID', `model.spec: ${(err as FedrankError).detail ?? String(err)}`);
  }
  const seed = config.model.seed;
  return {
    spec,
    modelId: modelIdOf(spec),
    paramCount: paramCount(spec),
    init: () => initGlobalParams(spec, seed),
  };
}
