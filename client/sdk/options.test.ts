import { describe, expect, it } from 'vitest';
import { DEFAULT_EPSILON_CAP, DEFAULT_RANK_TIMEOUT, EPSILON_CAP_MAX, resolveOptions } from './options.ts';

const BASE = 'https://cdn.example/fedrank/';

describe('resolveOptions', () => {
  it('applies defaults', () => {
    expect(resolveOptions({}, BASE)).toEqual({
      server: null,
      rankTimeout: DEFAULT_RANK_TIMEOUT,
      gpc: 'respect',
      backend: null,
      auto: true,
      epsilonCap: DEFAULT_EPSILON_CAP,
      evalReports: false,
      dpOff: false,
      workerUrl: null,
      tokens: { mode: 'pow' },
    });
  });
  it("uses the shop's token relay only on the page's own origin, else proof of work, or none when off", () => {
    const page = 'https://shop.example/products/1';
    const relay = (tokenUrl: string) =>
      resolveOptions({ tokenUrl }, 'https://cdn.example/fedrank.js', page).tokens;
    expect(relay('/fedrank/tokens')).toEqual({ mode: 'relay', url: 'https://shop.example/fedrank/tokens' });
    expect(relay('https://evil.example/tokens')).toEqual({ mode: 'pow' });
    expect(resolveOptions({ tokens: 'off', tokenUrl: '/t' }, BASE, page).tokens).toEqual({ mode: 'off' });
  });
  it('turns differential privacy off only for an explicit dp="off"', () => {
    expect(resolveOptions({ dp: 'off' }, BASE).dpOff).toBe(true);
    for (const dp of ['false', '0', '', 'OFF', 'no']) expect(resolveOptions({ dp }, BASE).dpOff).toBe(false);
  });
  it('reads data-* strings (dataset keys) and resolves URLs against the loader', () => {
    const o = resolveOptions(
      {
        server: '/agg/',
        rankTimeout: '500',
        gpc: 'ignore',
        backend: 'webgpu',
        auto: 'false',
        epsilonCap: '2',
      },
      BASE,
    );
    expect(o).toMatchObject({
      server: 'https://cdn.example/agg',
      rankTimeout: 500,
      gpc: 'ignore',
      backend: 'webgpu',
      auto: false,
      epsilonCap: 2,
    });
  });
  it('never lets the shop raise the epsilon cap above the SDK maximum, and ignores junk', () => {
    expect(resolveOptions({ epsilonCap: 1000 }, BASE).epsilonCap).toBe(EPSILON_CAP_MAX);
    const o = resolveOptions(
      { server: 'javascript:alert(1)', backend: 'gpu', rankTimeout: 'soon', gpc: 'maybe' },
      BASE,
    );
    expect(o).toMatchObject({
      server: null,
      backend: null,
      rankTimeout: DEFAULT_RANK_TIMEOUT,
      gpc: 'respect',
    });
  });
});
