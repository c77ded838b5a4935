import { describe, expect, it } from 'vitest';
import { isFedrankError } from '../errors.ts';
import { PRIVATE_SPEC, specPreset } from './presets.ts';
import { DEFAULT_SPEC, modelIdOf, paramCount, parseSpec } from './spec.ts';

describe('model spec presets', () => {
  it('the private spec is a valid spec with its own model id and the default layout', () => {
    expect(parseSpec(PRIVATE_SPEC)).toEqual(PRIVATE_SPEC);
    expect(modelIdOf(PRIVATE_SPEC)).not.toBe(modelIdOf(DEFAULT_SPEC));
    expect(paramCount(PRIVATE_SPEC)).toBe(paramCount(DEFAULT_SPEC));
    expect(PRIVATE_SPEC.personalWeight).toBeGreaterThan(DEFAULT_SPEC.personalWeight);
    // Starts from the catalog: attribute rows dominate an untrained item vector.
    expect(PRIVATE_SPEC.idInitStd).toBeLessThan(PRIVATE_SPEC.initStd / 5);
  });

  it('looks specs up by name, returns copies and refuses unknown names', () => {
    const a = specPreset('private');
    a.dim = 1;
    expect(specPreset('private').dim).toBe(PRIVATE_SPEC.dim);
    expect(specPreset('default')).toEqual(DEFAULT_SPEC);
    let caught: unknown;
    try {
      specPreset('toString');
    } catch (e) {
      caught = e;
    }
    expect(isFedrankError(caught) && caught.code).toBe('BAD_REQUEST');
  });
});
