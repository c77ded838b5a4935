/**
 * Model-design experiments on Amazon Beauty (validation targets only): centralized training of the
 * product's Ranker with Adam and sampled softmax, evaluated by full ranking each epoch.
 * Usage: node --import tsx bench/model-exp.ts '{"spec":{"dim":48},"epochs":4,"negatives":256}'
 */
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { useBackend } = await import('../eval/backend.ts');
const { loadDataset } = await import('../eval/dataset.ts');
const { evaluateRanker } = await import('../eval/ranking.ts');
const { evalCases, trainingSequence } = await import('../eval/split.ts');
const { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount } = await import('../shared/model/spec.ts');
const { encodeItem } = await import('../shared/model/features.ts');
const { Ranker } = await import('../shared/model/ranker.ts');
const { emptyPersonal, updatePersonal } = await import('../shared/model/personal.ts');
type TrainingExample = import('../shared/model/ranker.ts').TrainingExample;

const cfg = {
  spec: {} as Record<string, number>,
  epochs: 4,
  batch: 256,
  lr: 0.003,
  negatives: 256,
  inBatch: true,
  personal: false,
  backend: 'wasm' as 'wasm' | 'cpu',
  evalUsers: 0,
  seed: 1,
  sweepPersonal: [] as number[],
  /** Write the trained parameters here / start from (and only evaluate) parameters read from here. */
  save: '',
  load: '',
  ...(JSON.parse(process.argv[2] ?? '{}') as object),
};
const spec = { ...DEFAULT_SPEC, ...cfg.spec };
console.log(JSON.stringify({ cfg, params: paramCount(spec) }));
console.log('backend', await useBackend(cfg.backend));
const data = await loadDataset('../shared/data/amazon-beauty');
const encoded = data.items.map((it) => encodeItem(spec, it));
const examples: TrainingExample[] = [];
for (const seq of data.sequences) {
  const tr = trainingSequence(seq);
  let personal = emptyPersonal(spec);
  for (let t = 0; t < tr.length; t++) {
    const history = Array.from(tr.subarray(Math.max(0, t - spec.maxHistory), t), (i) => encoded[i]!);
    examples.push({
      context: cfg.personal ? { history, personal } : { history },
      positive: encoded[tr[t]!]!,
      negatives: [],
    });
    if (cfg.personal)
      personal = updatePersonal(spec, personal, { item: encoded[tr[t]!]!, kind: 'purchase', time: t });
  }
}
let cases = evalCases(data, 'valid');
if (cfg.evalUsers > 0) cases = cases.filter((_, i) => i % Math.ceil(cases.length / cfg.evalUsers) === 0);
const rnd = mulberry32(cfg.seed);
const { readFileSync, writeFileSync } = await import('node:fs');
const ranker = new Ranker(
  spec,
  cfg.load ? new Float32Array(readFileSync(cfg.load).buffer.slice(0)) : initGlobalParams(spec, cfg.seed),
);
if (cfg.load) cfg.epochs = 0;
const t0 = performance.now();
for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
  for (let i = examples.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [examples[i], examples[j]] = [examples[j]!, examples[i]!];
  }
  let lossSum = 0;
  let steps = 0;
  const te = performance.now();
  for (let s = 0; s < examples.length; s += cfg.batch) {
    const shared = Array.from({ length: cfg.negatives }, () => encoded[Math.floor(rnd() * encoded.length)]!);
    lossSum += ranker.train(examples.slice(s, s + cfg.batch), {
      learningRate: cfg.lr,
      optimizer: 'adam',
      sharedNegatives: shared,
      inBatchNegatives: cfg.inBatch,
    });
    steps++;
    if (steps % 100 === 0)
      console.log(
        `  step ${steps} loss ${(lossSum / steps).toFixed(4)} ${((performance.now() - te) / 1000).toFixed(0)}s`,
      );
  }
  const trainS = (performance.now() - te) / 1000;
  const tv = performance.now();
  const m = evaluateRanker(ranker, encoded, cases, epoch === 1);
  console.log(`  eval ${((performance.now() - tv) / 1000).toFixed(0)}s`);
  console.log(
    JSON.stringify({
      epoch,
      loss: +(lossSum / steps).toFixed(4),
      trainS: +trainS.toFixed(1),
      ndcg10: m.ndcg10 ?? m,
      hr10: m.hr10,
    }),
  );
}
if (cfg.save) writeFileSync(cfg.save, ranker.getGlobal());
// The on-device affinity bonus is not learned: sweep its weight on the trained global parameters.
for (const personalWeight of cfg.sweepPersonal) {
  const r2 = new Ranker({ ...spec, personalWeight }, ranker.getGlobal());
  const m = evaluateRanker(r2, encoded, cases, false);
  console.log(JSON.stringify({ personalWeight, ndcg10: m.ndcg10, hr10: m.hr10 }));
  r2.dispose();
}
console.log('total s', ((performance.now() - t0) / 1000).toFixed(1));
ranker.dispose();
