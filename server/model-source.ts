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
import { withCatalogWeights } from '../shared/model/catalog-weights.ts';
import { readCatalogFile } from './catalog-file.ts';
import type { ServerConfig } from './config.ts';

/** What the server needs to know about the model it aggregates. */
export interface ModelSource {
  spec: ModelSpec;
  modelId: string;
  paramCount: number;
  /** Fresh initial global parameters (deterministic for a seed). */
  init(): Float32Array;
}

/**
 * The configured model: `config.model.spec` fields override the shared DEFAULT_SPEC, and `model.catalog`
 * fills the spec's attribute weights from the shop's catalog file.
 */
export function modelFromConfig(config: ServerConfig): ModelSource {
  let spec: ModelSpec;
  try {
    spec = parseSpec({ ...DEFAULT_SPEC, ...(config.model.spec ?? {}) });
  } catch (err) {
    throw new FedrankError('CONFIG_INVALID', `model.spec: ${(err as FedrankError).detail ?? String(err)}`);
  }
  // A table given in model.spec wins; otherwise the catalog's weights, when the operator names a catalog.
  if (config.model.catalog !== undefined && !spec.attrWeights) {
    spec = withCatalogWeights(spec, readCatalogFile(config.model.catalog));
  }
  const seed = config.model.seed;
  return {
    spec,
    modelId: modelIdOf(spec),
    paramCount: paramCount(spec),
    init: () => initGlobalParams(spec, seed),
  };
}
