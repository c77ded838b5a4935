/**
 * Cost of one simulated federated round of the beauty preset's run without noise (`fedrank eval`'s
 * runFederated: batched per-client gradients, clip, codec, FedAdam), without evaluation. Writes
 * bench/results/fed-round.json: ms per round and per simulated shopper, after warm-up rounds.
 * Usage: node --import tsx bench/fed-round.ts [rounds] (data: FEDRANK_BEAUTY or ../shared/data/amazon-beauty)
 */
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { mkdirSync, writeFileSync } = await import('node:fs');
const os = await import('node:os');
const { execSync } = await import('node:child_process');
const { useBackend } = await import('../eval/backend.ts');
const { parseEvalArgs } = await import('../eval/config.ts');
const { loadDataset } = await import('../eval/dataset.ts');
const { makeWorkbench } = await import('../eval/workbench.ts');
const { runFederated } = await import('../eval/federated.ts');
const { federatedOptions } = await import('../eval/runner.ts');

const rounds = Number(process.argv[2] ?? 80);
const warm = 10;
const data = process.env.FEDRANK_BEAUTY ?? '../shared/data/amazon-beauty';
const backend = await useBackend('wasm');
const cfg = parseEvalArgs(['--data', data, '--preset', 'beauty', '--mode', 'federated', '--split', 'valid']);
const f = cfg.federated;
const wb = makeWorkbench(await loadDataset(cfg.data), cfg.spec);
let t0 = 0;
let clients = 0;
// The preset's own options (its decay schedule spans all its rounds), stopped after `rounds`.
await runFederated(wb, { ...federatedOptions(f, 0, cfg.seed), rounds }, (s) => {
  if (s.round === warm) t0 = performance.now();
  if (s.round > warm) clients += s.clients;
});
const ms = performance.now() - t0;
const result = {
  commit: execSync('git rev-parse --short HEAD').toString().trim(),
  backend,
  cpus: os.cpus().length,
  loadavg: os.loadavg(),
  clientsPerRound: f.clientsPerRound,
  timedRounds: rounds - warm,
  msPerRound: Number((ms / (rounds - warm)).toFixed(1)),
  msPerShopper: Number((ms / clients).toFixed(2)),
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/fed-round.json', JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result));
