/**
 * Ranker timings on the Node tfjs backends (WASM and CPU): score() of 100 candidates, user/item vectors,
 * a centralized training step and one client's local step. Writes bench/results/model.json.
 * Usage: node --import tsx bench/model-prof.ts ['{"dim":48}']
 */
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { mkdirSync, writeFileSync } = await import('node:fs');
const os = await import('node:os');
const { useBackend } = await import('../eval/backend.ts');
const { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount } = await import('../shared/model/spec.ts');
const { encodeItem } = await import('../shared/model/features.ts');
const { Ranker } = await import('../shared/model/ranker.ts');

const spec = { ...DEFAULT_SPEC, ...(JSON.parse(process.argv[2] ?? '{}') as object) };
const rnd = mulberry32(1);
const items = Array.from({ length: 12000 }, (_, i) =>
  encodeItem(spec, { id: String(i), category: String(i % 40), brand: String(i % 300), price: 1 + (i % 97) }),
);
const pick = () => items[Math.floor(rnd() * items.length)]!;
const batch = (B: number, K: number) =>
  Array.from({ length: B }, () => ({
    context: { history: Array.from({ length: 1 + Math.floor(rnd() * 12) }, pick) },
    positive: pick(),
    negatives: Array.from({ length: K }, pick),
  }));

/** Median of `n` timed runs after one warm-up, in ms. */
function median(n: number, f: () => void): number {
  f();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    f();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return +xs[Math.floor(n / 2)]!.toFixed(3);
}

const results: Record<string, Record<string, number>> = {};
for (const backend of ['wasm', 'cpu'] as const) {
  if ((await useBackend(backend)) !== backend) continue;
  const r = new Ranker(spec, initGlobalParams(spec));
  const c100 = Array.from({ length: 100 }, pick);
  const ctx = { history: Array.from({ length: 10 }, pick) };
  const central = batch(256, 0);
  const shared = Array.from({ length: 256 }, pick);
  const client = batch(7, 16);
  results[backend] = {
    score100Ms: median(30, () => r.score(ctx, c100)),
    userVectors256Ms: median(5, () => r.userVectors(central.map((e) => e.context))),
    itemVectors12000Ms: median(3, () => r.itemVectors(items)),
    centralStepAdamMs: median(3, () =>
      r.train(central, {
        learningRate: 0.003,
        optimizer: 'adam',
        sharedNegatives: shared,
        inBatchNegatives: true,
      }),
    ),
    clientStepSgdMs: median(10, () => r.train(client, { learningRate: 0.1 })),
    getGlobalMs: median(10, () => r.getGlobal()),
  };
  r.dispose();
  console.log(backend, results[backend]);
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/model.json',
  JSON.stringify(
    {
      spec,
      params: paramCount(spec),
      cpus: os.cpus().length,
      loadavg: os.loadavg(),
      results,
      at: new Date().toISOString(),
    },
    null,
    2,
  ) + '\n',
);
