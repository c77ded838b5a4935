/** The measurements of `npm run bench:secagg` (bench/secagg.ts loads this after the tfjs resolve hook). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend, type EvalBackend } from '../eval/backend.ts';
import { buildExamples, trainLocal, type Interaction } from '../shared/fl/local-update.ts';
import { encodeItem } from '../shared/model/features.ts';
import { Ranker } from '../shared/model/ranker.ts';
import { DEFAULT_SPEC, initGlobalParams, mulberry32 } from '../shared/model/spec.ts';
import { planEncoding } from '../shared/secagg/calibration.ts';
import { roundRotation } from '../shared/secagg/derive.ts';
import { encodeIntegers } from '../shared/secagg/encode.ts';
import { centered, packedBytes, toRing } from '../shared/secagg/ring.ts';
import { defaultConfig } from '../server/config.ts';
import { type ClientProcess, processCpuMs as cpuMs } from '../server/secagg/client-process.ts';
import { defaultSecAggConfig } from '../server/secagg/config.ts';
import { simulateRound, type SimulationReport } from '../server/secagg/simulate.ts';
import { D_MODEL, syntheticUpdate } from '../server/secagg/synthetic-updates.ts';
import { maskedInputAllocation } from './secagg-alloc.ts';
import { OWN_PROCESS_ROUNDS, OWN_PROCESS_WARM_FROM, ownProcessRounds } from './secagg-own-process.ts';
import { median, r1 } from './stats.ts';
import { clientSteps } from './secagg-steps.ts';

const OWN_PROCESS_SLOTS = [10, 50, 90];
const FLOWER = {
  k25: { clientMs: 136, serverMs: 9800, bytesPerParam: 8.0 },
  k7: { clientMs: 46, serverMs: 1800 },
};
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** Median CPU ms of one local training pass of the default model on `backend` (3 timed after a warm-up). */
async function trainingPass(backend: EvalBackend): Promise<{ backend: string; ms: number }> {
  const used = await useBackend(backend);
  const spec = DEFAULT_SPEC;
  const t = defaultConfig().training;
  const rand = mulberry32(7);
  const catalog = Array.from({ length: 300 }, (_, i) =>
    encodeItem(spec, { id: `sku${i}`, category: `c${i % 12}`, brand: `b${i % 30}`, price: 5 + (i % 50) }),
  );
  const events: Interaction[] = Array.from({ length: 40 }, (_, i) => ({
    item: catalog[Math.floor(rand() * catalog.length)]!,
    kind: i % 3 === 0 ? 'click' : 'impression',
    time: i,
  }));
  const examples = buildExamples(spec, events, catalog, rand);
  const global = initGlobalParams(spec, 1);
  const ranker = new Ranker(spec, global);
  const runs: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = cpuMs();
    const before = tf.memory().numTensors;
    trainLocal(ranker, global, examples, t, { pool: catalog, random: rand });
    if (i > 0) runs.push(cpuMs() - t0);
    if (tf.memory().numTensors !== before) throw new Error('training leaked tensors');
  }
  ranker.dispose();
  return { backend: used, ms: r1(median(runs)) };
}

function dropouts(n: number): { dropAfterShareKeys: number[]; dropAfterMaskedInput: number[] } {
  const k = Math.round(n * 0.05);
  return {
    dropAfterShareKeys: Array.from({ length: k }, (_, i) => 2 + i * Math.floor(n / k)),
    dropAfterMaskedInput: Array.from({ length: k }, (_, i) => 3 + i * Math.floor(n / k)),
  };
}

/** Garbage collections (count by kind, and their total ms) from now until the returned function is called. */
function watchGc(): () => Promise<{ major: number; minor: number; incremental: number; ms: number }> {
  const seen = { major: 0, minor: 0, incremental: 0, ms: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      // perf_hooks.constants: NODE_PERFORMANCE_GC_MINOR 1, MAJOR 4, INCREMENTAL 8.
      if (kind === 4) seen.major++;
      else if (kind === 1) seen.minor++;
      else if (kind === 8) seen.incremental++;
      seen.ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  return async () => {
    await new Promise((r) => setTimeout(r, 20)); // entries arrive asynchronously
    obs.disconnect();
    return { ...seen, ms: Math.round(seen.ms) };
  };
}

/**
 * A round at 10% dropouts; a round that fails (a neighbourhood lost more than k - t) is retried with a new
 * seed. The clients of `elsewhere`'s slots run in their own processes.
 */
async function round(
  n: number,
  neighbours: number,
  noised: boolean,
  elsewhere = new Map<number, ClientProcess>(),
  roundId = 1,
): Promise<
  SimulationReport & { failedAttempts: number; gc: Awaited<ReturnType<ReturnType<typeof watchGc>>> }
> {
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    const gcDone = watchGc();
    const rep = await simulateRound({
      config: { ...defaultSecAggConfig(), neighbours },
      cohort: n,
      minSurvivors: Math.ceil(n / 2),
      denominator: n,
      d: D_MODEL,
      clipNorm: 1,
      noiseMultiplier: noised ? 1 : 0,
      update: noised ? (s) => syntheticUpdate(s).delta : () => new Float32Array(D_MODEL),
      clockMs: cpuMs,
      round: roundId,
      beginElsewhere: (r, slot) => elsewhere.get(slot)?.begin(r, slot),
      ...dropouts(n),
    });
    const gc = await gcDone();
    log(
      `n=${n} k=${neighbours} ${rep.record.phase} in ${(Date.now() - t0) / 1000}s, server ${r1(rep.serverMs)} ms`,
    );
    if (rep.record.phase !== 'done') {
      if (attempt < 3) continue;
      throw new Error(`round failed: ${rep.record.failure}`);
    }
    const exact = rep.result!.ringSum.every((v, i) => v === rep.expectedRingSum[i]);
    if (!exact) throw new Error('unmasked sum differs from the survivors sum');
    return { ...rep, failedAttempts: attempt, gc };
  }
}

function summary(rep: Awaited<ReturnType<typeof round>>, elsewhere: number[] = []) {
  // A client run in its own process is timed there (ownProcess below), not by this one.
  const here = rep.record.unmasked.filter((s) => !elsewhere.includes(s));
  const full = here.map((s) => rep.clientMs[s - 1]!);
  const step = (k: keyof SimulationReport['clientStepMs']): number =>
    r1(median(here.map((s) => rep.clientStepMs[k][s - 1]!)));
  const up = rep.uploadBytes;
  const total = Object.values(up).reduce((a, b) => a + b, 0);
  return {
    n: rep.record.params.n,
    k: rep.record.params.k,
    t: rep.record.params.t,
    bits: rep.record.params.encoding.bits,
    survivors: {
      advertised: rep.record.advertised.length,
      shared: rep.record.shared.length,
      masked: rep.record.masked.length,
      unmasked: rep.record.unmasked.length,
    },
    clientCpuMs: {
      median: r1(median(full)),
      max: r1(Math.max(...full)),
      medianByStep: {
        advertiseKeys: step('advertise'),
        shareKeys: step('share'),
        maskedInput: step('mask'),
        unmask: step('unmask'),
      },
    },
    serverCpuMs: r1(rep.serverMs),
    uploadBytes: up,
    bytesPerParam: {
      // The ring elements alone: exactly b / 8 (what Flower's 8.0, int64 elements, also counts).
      ringPayload: packedBytes(D_MODEL, rep.record.params.encoding.bits) / D_MODEL,
      maskedInputFramingBytes: up['masked-input']! - packedBytes(D_MODEL, rep.record.params.encoding.bits),
      maskedInput: +(up['masked-input']! / D_MODEL).toFixed(6),
      allMessages: +(total / D_MODEL).toFixed(4),
    },
    exactSum: true,
    failedAttemptsBeforeThisOne: rep.failedAttempts,
    // In the whole simulated round (all clients and the server in this one process).
    garbageCollections: rep.gc,
  };
}

/** Wrap-around over `n` noised realistic updates at the plan of a round of n with noise for n/2. */
async function wrapAround(n: number): Promise<object> {
  const p = planEncoding(
    { d: D_MODEL, clipNorm: 1, noiseMultiplier: 1, noiseClients: Math.ceil(n / 2), maxClients: n },
    16,
  )!;
  const rot = await roundRotation(crypto.getRandomValues(new Uint8Array(32)), 1, D_MODEL);
  const sum = new Float64Array(D_MODEL);
  // Half the cohort clicked the same items (coherent sum), half their own.
  for (let c = 0; c < n; c++) {
    const ints = encodeIntegers(syntheticUpdate(c, 5, c % 2 ? undefined : [1, 2, 3, 4, 5]).delta, p, rot);
    for (let i = 0; i < D_MODEL; i++) sum[i] = sum[i]! + ints[i]!;
  }
  const back = centered(toRing(sum, 16), 16);
  let wraps = 0;
  let maxAbs = 0;
  for (let i = 0; i < D_MODEL; i++) {
    if (back[i] !== sum[i]) wraps++;
    maxAbs = Math.max(maxAbs, Math.abs(sum[i]!));
  }
  return {
    clients: n,
    bits: 16,
    coordinates: D_MODEL,
    wraps,
    rate: wraps / D_MODEL,
    maxAbsOverHalfRange: +(maxAbs / 2 ** 15).toFixed(4),
    plannedTailSigmas: 6,
  };
}

async function main(): Promise<void> {
  const load = loadavg();
  const training = { cpu: await trainingPass('cpu'), wasm: await trainingPass('wasm') };
  log(`training pass: ${JSON.stringify(training)}`);
  // Slots 10, 50, 90 run in processes of their own (none of them drops out: see dropouts()).
  const own = await ownProcessRounds(OWN_PROCESS_SLOTS, (elsewhere, id) =>
    round(100, 24, true, elsewhere, id),
  );
  const k24 = summary(own.first, OWN_PROCESS_SLOTS);
  const k6 = summary(await round(100, 6, true));
  const steps = await clientSteps(cpuMs, { d: D_MODEL, n: 100, k: k24.k, t: k24.t, noiseClients: 50 });
  log(`client steps: ${JSON.stringify(steps)}`);
  const allocation = await maskedInputAllocation({
    d: D_MODEL,
    n: 100,
    k: k24.k,
    t: k24.t,
    noiseClients: 50,
  });
  log(`masked-input allocation: ${JSON.stringify(allocation)}`);
  const wrap = await wrapAround(100);
  // The 1,000-client round is the longest part: the file is written before it too, so a loaded machine
  // that cannot finish it still leaves the rest.
  const write = (big: ReturnType<typeof summary> | null): void => {
    // In one process the round's rotation is built once for all clients; a browser builds its own.
    const client = (c: typeof k24): number => r1(c.clientCpuMs.median + steps.rotationSetup!);
    const c24 = client(k24);
    const c6 = client(k6);
    const ratios = (ms: number) => ({
      cpuBackend: +(ms / training.cpu.ms).toFixed(3),
      wasmBackend: +(ms / training.wasm.ms).toFixed(3),
    });
    const out = {
      when: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, ${cpus().length} cores, node ${process.version}`,
      loadAverageAtStart: load,
      d: D_MODEL,
      notes: [
        'Client CPU: one client of the n = 100 round through all four phases (median over clients that finished), plus the rotation setup each client does on its own (the simulated cohort shares one in-process); it includes the distributed discrete Gaussian encoding (clip, rotation, rounding, noise) and all masks.',
        `clientOwnProcess: the clients of slots ${OWN_PROCESS_SLOTS.join(', ')} of the n = 100, k = 24 round each run in a child process of their own (server/secagg/client-process.ts), as a browser worker runs one client: the process CPU of that child around each step (decoding the server's message, the step, encoding the reply; its own rotation setup included), so no other client's garbage is collected on its time. firstRound: the first round of fresh processes (cold code: V8 compiles the hot loops on background threads, and that CPU counts); warm: the median over those clients in rounds ${OWN_PROCESS_WARM_FROM}-${OWN_PROCESS_ROUNDS} of the same processes (a page that stays open; the training pass is likewise timed after a warm-up); byRound: each client's total and steps in each of the ${OWN_PROCESS_ROUNDS} rounds. The in-round figure (rounds.n100_k24, clientCpuMsPerRound.k24) is the other clients of the first of these rounds.`,
        "clientSteps: each mechanism of a client's round timed on its own at d, k = 24 (CPU ms per call, median of 3 samples of 4 calls); masksSelfAndPairwise is the k + 1 masks on the Uint16Array the client masks at b = 16 (added in WebAssembly SIMD lanes, shared/secagg/lanes16-simd.ts), masksAddOnly those adds alone; rotationSetup, clipRotateRound and noise run in the WebAssembly kernels (shared/secagg/kernels.ts) where the engine allows, as the client does; agreementsPerPurpose happens twice per round (share encryption, pairwise masks). noiseTableOncePerVariance is paid once per variance per page (a round's clients share one), not per round.",
        "clientMaskedInputBytes: what one client's masked-input phase allocates at d, k = 24 (bench/secagg-alloc.ts): jsBufferBytes, the growth of Node's ArrayBuffer total across one call after a forced GC (largest of 5); webCryptoOutputBytes, the k + 1 mask keystreams WebCrypto returns (2 bytes per element at b = 16). garbageCollections: the collections during each whole simulated round (clients and server in one process).",
        'Training pass: trainLocal on the default model, 40 events, default training settings, in this process (CPU and WASM tfjs backends).',
        'The n = 1,000 round uses noise-free zero updates for its simulated clients (server work is value-independent); its client figures are not the client cost.',
        'bytesPerParam: ringPayload is the masked ring elements alone (b / 8 bytes each, b = 16); maskedInput is the whole message, whose fixed framing (maskedInputFramingBytes: the 16-byte header of every message, the ring width and d) adds 21 bytes per upload whatever d is; allMessages adds the other three phases.',
        "Flower's num_shares counts the client itself (each client keeps one share and sends one to each neighbour): its 25 is our k = 24 neighbours, its 7 our k = 6 (the Harary graph needs even k).",
        'Shared 2-core machine: other sessions were running (see loadAverageAtStart).',
      ],
      trainingPassMs: training,
      rounds: { n100_k24: k24, n100_k6: k6, n1000_k24: big ?? 'not finished' },
      clientCpuMsPerRound: {
        k24: c24,
        k6: c6,
        k24OwnProcessWarm: own.warm.median,
        k24OwnProcessFirstRound: own.firstRound.median,
      },
      clientOwnProcess: {
        slots: OWN_PROCESS_SLOTS,
        warm: own.warm,
        firstRound: own.firstRound,
        byRound: own.byRound,
      },
      clientSteps: steps,
      clientMaskedInputBytes: allocation,
      clientToTrainingRatio: {
        ...ratios(c24),
        ownProcessWarm: ratios(own.warm.median),
        ownProcessFirstRound: ratios(own.firstRound.median),
      },
      wrapAround: wrap,
      flower: {
        reference: 'issue 19: Flower SecAgg+, n = 100, d = 323,255, 10% dropouts (num_shares 25 and 7)',
        k25: {
          ...FLOWER.k25,
          oursK: 24,
          oursClientRatio: +(c24 / FLOWER.k25.clientMs).toFixed(3),
          oursServerRatio: +(k24.serverCpuMs / FLOWER.k25.serverMs).toFixed(3),
          oursBytesRatio: +(k24.bytesPerParam.ringPayload / FLOWER.k25.bytesPerParam).toFixed(3),
        },
        k7: {
          ...FLOWER.k7,
          oursK: 6,
          oursClientRatio: +(c6 / FLOWER.k7.clientMs).toFixed(3),
          oursServerRatio: +(k6.serverCpuMs / FLOWER.k7.serverMs).toFixed(3),
        },
      },
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/secagg.json', JSON.stringify(out, null, 2) + '\n');
    if (big) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  };
  write(null);
  write(summary(await round(1000, 24, false)));
}

/** Runs every measurement and writes bench/results/secagg.json. */
export async function runSecAggBench(): Promise<void> {
  await main();
}
