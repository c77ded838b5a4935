/**
 * What we evaluate is what ships: docs/examples/private-learning.json, the server configuration an operator
 * runs for private learning, is the configuration `npm run eval:private` simulates at epsilon 8 (the eval's
 * PRODUCT_PRIVATE settings, its model spec and the server defaults it closes rounds with).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeConfig, readConfigFile } from '../server/config.ts';
import { modelFromConfig } from '../server/model-source.ts';
import { DEFAULT_ROBUST } from '../server/robust-step.ts';
import { readCatalogFile } from '../server/catalog-file.ts';
import { DEMO_CATALOG_PATH } from '../demo/shop-server.ts';
import { withCatalogWeights } from '../shared/model/catalog-weights.ts';
import { DEFAULT_SPEC, paramCount, parseSpec } from '../shared/model/spec.ts';
import { BASE_FEDERATED, PRESETS, PRODUCT_PRIVATE } from './presets.ts';
import { honestPrivacy, noiseForEpsilon } from './private-accounting.ts';
import { federatedOptions, secureShape } from './runner.ts';

const EXAMPLE = fileURLToPath(new URL('../docs/examples/private-learning.json', import.meta.url));

describe('docs/examples/private-learning.json', () => {
  const config = makeConfig(readConfigFile(EXAMPLE));
  const f = { ...BASE_FEDERATED, ...PRODUCT_PRIVATE };
  const spec = parseSpec({ ...DEFAULT_SPEC, ...PRESETS.private!.spec });
  const shape = secureShape(f, paramCount(spec));
  const z = noiseForEpsilon(shape, 8);
  const sim = federatedOptions(f, z, 1);

  it('serves the model the private eval trains, its affinity weighed by the catalog as the eval weighs it', () => {
    expect(PRESETS.private!.catalogWeights).toBe(true);
    expect(config.model.catalog).toBeDefined();
    // The example names the shop's own catalog file; any catalog goes through the eval's withCatalogWeights.
    const withDemo = { ...config, model: { ...config.model, catalog: DEMO_CATALOG_PATH } };
    expect(modelFromConfig(withDemo).spec).toEqual(
      withCatalogWeights(spec, readCatalogFile(DEMO_CATALOG_PATH)),
    );
    const noCatalog = { ...config, model: { ...config.model, catalog: undefined } };
    expect(modelFromConfig(noCatalog).spec).toEqual(spec);
  });

  it('trains and privatizes on the device as the eval does, with at least its noise', () => {
    // Under secure aggregation the ring encoding replaces the update codec: updateEncoding plays no part.
    const { noiseMultiplier, updateEncoding: _a, ...training } = config.training;
    const { noiseMultiplier: simSigma, updateEncoding: _b, ...simTraining } = sim.training;
    expect(training).toEqual(simTraining);
    expect(noiseMultiplier).toBeGreaterThanOrEqual(simSigma);
    expect(noiseMultiplier - simSigma).toBeLessThan(1e-3);
  });

  it('closes rounds with the eval optimizer, robust bounds, cohort and participation caps', () => {
    expect(config.optimizer).toEqual(sim.server);
    expect(config.robust).toEqual(DEFAULT_ROBUST);
    expect(config.privacy.secureAggregation).toBe(true);
    expect(config.rounds.minClients).toBe(shape.survivors);
    expect(config.rounds.maxClients).toBe(shape.cohort);
    expect(config.privacy.maxContributions).toBe(shape.maxContributions);
    expect(config.privacy.minSeparationRounds).toBe(shape.minSeparation);
    expect(config.privacy.delta).toBe(shape.delta);
  });

  it('spends at most the epsilon 8 the eval reports, against the server', () => {
    const g = honestPrivacy(shape, config.training.noiseMultiplier);
    expect(g.server.epsilon).toBeLessThanOrEqual(8);
    expect(g.server.epsilon).toBeGreaterThan(7.99);
    expect(config.privacy.deviceEpsilonBudget).toBe(8);
  });
});
