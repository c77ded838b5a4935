/**
 * `npx tsx bench/weights-quant.ts`: what compact weights do to rankings. The default model (initialized,
 * seed 1; or trained parameters from bench/model-exp.ts via --load FILE) ranks a synthetic catalogue for
 * synthetic shoppers with float32 weights and again with each compact encoding; reports the largest score
 * change (absolute and relative to the score spread), top-10 overlap and Spearman rank correlation, and the
 * bytes per download (raw and gzip/brotli). Writes bench/results/weights-quant.json.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { useBackend } = await import('../eval/backend.ts');
const { DEFAULT_SPEC, initGlobalParams, mulberry32, paramCount, modelIdOf } =
  await import('../shared/model/spec.ts');
const { encodeItem } = await import('../shared/model/features.ts');
const { Ranker } = await import('../shared/model/ranker.ts');
const { encodeTensor } = await import('../shared/codec/tensor-codec.ts');
const { decodeWeights, encodeCompactWeights } = await import('../shared/codec/weights.ts');

const ITEMS = 2000;
const USERS = 100;
await useBackend('cpu');
const spec = DEFAULT_SPEC;
const modelId = modelIdOf(spec);
const n = paramCount(spec);
const loadAt = process.argv.indexOf('--load');
const params =
  loadAt > 0
    ? new Float32Array(readFileSync(process.argv[loadAt + 1]!).buffer.slice(0))
    : initGlobalParams(spec, 1);
const rnd = mulberry32(7);
const items = Array.from({ length: ITEMS }, (_, i) =>
  encodeItem(spec, {
    id: `sku-${i}`,
    category: `cat-${Math.floor(rnd() * 40)}`,
    brand: `brand-${Math.floor(rnd() * 200)}`,
    price: 1 + rnd() * 200,
  }),
);
const users = Array.from({ length: USERS }, () => ({
  history: Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => items[Math.floor(rnd() * ITEMS)]!),
}));

/** float16 rounding (round to nearest even on the 10-bit mantissa; normal range only), for comparison. */
function toF16(x: Float32Array): Float32Array {
  return x.map((v) => {
    if (v === 0) return 0;
    const e = Math.max(Math.floor(Math.log2(Math.abs(v))), -14);
    const q = 2 ** (e - 10);
    return Math.round(v / q) * q;
  });
}

function scoresWith(p: Float32Array): Float32Array[] {
  const r = new Ranker(spec, p);
  try {
    return users.map((u) => r.score(u, items));
  } finally {
    r.dispose();
  }
}

function ranks(s: Float32Array): Float64Array {
  const order = Array.from(s.keys()).sort((a, b) => s[b]! - s[a]!);
  const out = new Float64Array(s.length);
  order.forEach((item, rank) => (out[item] = rank));
  return out;
}

function compare(base: Float32Array[], other: Float32Array[]) {
  let maxAbs = 0;
  let maxRel = 0;
  let top10 = 0;
  let spearman = 0;
  for (let u = 0; u < base.length; u++) {
    const a = base[u]!;
    const b = other[u]!;
    let mean = 0;
    for (const v of a) mean += v / a.length;
    let sd = 0;
    for (const v of a) sd += (v - mean) ** 2 / a.length;
    sd = Math.sqrt(sd);
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i]! - b[i]!);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / (sd || 1));
    }
    const ra = ranks(a);
    const rb = ranks(b);
    let d2 = 0;
    for (let i = 0; i < a.length; i++) d2 += (ra[i]! - rb[i]!) ** 2;
    spearman += 1 - (6 * d2) / (a.length * (a.length ** 2 - 1)) / base.length;
    const ta = new Set(Array.from(ra.keys()).filter((i) => ra[i]! < 10));
    top10 += Array.from(rb.keys()).filter((i) => rb[i]! < 10 && ta.has(i)).length / 10 / base.length;
  }
  return {
    maxAbsScoreChange: maxAbs,
    maxScoreChangeInScoreStds: maxRel,
    meanTop10Overlap: top10,
    meanSpearman: spearman - (base.length - 1),
  };
}

function sizes(bytes: Uint8Array) {
  return {
    raw: bytes.byteLength,
    gzip: gzipSync(bytes, { level: 9 }).byteLength,
    brotli: brotliCompressSync(bytes).byteLength,
  };
}

const f32 = encodeTensor({ kind: 'weights', modelId, baseVersion: 0, round: 0, encoding: 'f32' }, params);
const base = scoresWith(params);
const i8 = encodeCompactWeights(modelId, 0, 0, params);
const i8Values = decodeWeights(i8, { modelId, paramCount: n }).values;
const i8b256 = encodeTensor({ kind: 'weights', modelId, baseVersion: 0, round: 0, encoding: 'i8' }, params, {
  blockSize: 256,
  random: (a) => a.fill(0x80000000),
});
const i8b256Values = decodeWeights(i8b256, { modelId, paramCount: n }).values;
const result = {
  benchmark: 'compact weights: ranking effect and bytes per download',
  date: new Date().toISOString(),
  model: {
    modelId,
    params: n,
    source: loadAt > 0 ? 'trained (--load)' : 'initialized default model, seed 1',
  },
  catalogue: { items: ITEMS, shoppers: USERS },
  encodings: {
    f32: { bytes: sizes(f32) },
    f16: { bytes: { raw: n * 2 }, ranking: compare(base, scoresWith(toF16(params))) },
    i8Block64: { bytes: sizes(i8), ranking: compare(base, scoresWith(i8Values)) },
    i8Block256: { bytes: sizes(i8b256), ranking: compare(base, scoresWith(i8b256Values)) },
  },
};
console.log(JSON.stringify(result, null, 2));
const out = new URL('./results/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
writeFileSync(`${out}weights-quant.json`, JSON.stringify(result, null, 2) + '\n');
