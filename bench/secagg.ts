/**
 * `npm run bench:secagg`: the cost of a secure-aggregation round (SecAgg+ with the distributed discrete
 * Gaussian) at the default model size, written to bench/results/secagg.json:
 * - client CPU of one secure round (keys, shares, encoding with noise, masks, unmask) at d = 323,255 and the
 *   default k = 24 neighbours, as a ratio to one local training pass (trainLocal, default model) in this run,
 *   by protocol step and by mechanism (bench/secagg-steps.ts);
 * - server CPU of a round of 100 and of 1,000 simulated clients with 10% dropouts (half after share keys,
 *   half after masked input); the 1,000-client round uses noise-free clients (the server's work does not
 *   depend on the values, and 1,000 noised encodings would take the machine ~15 minutes);
 * - upload bytes per parameter; wrap-around rate at b on 100 realistic noised updates;
 * - the same at n = 100 with k = 24 and k = 6 beside Flower's SecAgg+ figures from issue 19 (its num_shares
 *   counts the client itself: k = 24 here is its 25, k = 6 its 7).
 * CPU times are process CPU (user + system, WebCrypto's worker threads included) around each call.
 */
import { registerTfjsResolveHook } from '../cli/tfjs-node.ts';
registerTfjsResolveHook();
const { runSecAggBench } = await import('./secagg-run.ts');
await runSecAggBench();
