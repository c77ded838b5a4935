/**
 * The browser's implementations of the device core's ports: IndexedDB store, fetch transport, secure
 * aggregation through the server as relay, the token wallet, Web Locks, the tfjs learner. The engine only
 * wires them to a Device.
 */
import type { DevicePorts } from '../../shared/device/ports.ts';
import { HttpTransport } from '../../shared/device/http.ts';
import { cryptoRandom } from '../../shared/device/random.ts';
import { RankerLearner } from '../../shared/device/ranker-learner.ts';
import { DEFAULT_FLOORS } from '../../shared/device/rules.ts';
import { RoutingSubmitter, SecAggSubmitter } from '../../shared/device/secagg-submitter.ts';
import type { Store } from '../../shared/device/store.ts';
import { TokenWallet, tokenIssuer, tokenPurposes } from '../../shared/device/tokens.ts';
import type { Ranker } from '../../shared/model/ranker.ts';
import type { WorkerInit } from '../wire.ts';
import { browserFetch, tokenRelayFetch, tokenServerFetch } from './http.ts';
import { webLocks } from './locks.ts';
import { encodedInputSeam } from './test-seams.ts';
import { browserClock, yieldToMessages } from './timing.ts';

/** The device's token wallet (IndexedDB), over the shop's relay or proof of work; null when off. */
function tokenWallet(cfg: WorkerInit, store: Store): TokenWallet | null {
  const mode = cfg.tokens ?? { mode: 'pow' };
  if (cfg.server === null || mode.mode === 'off') return null;
  const fetchTokens = tokenIssuer({
    serverUrl: cfg.server,
    fetch: tokenServerFetch,
    relayUrl: mode.mode === 'relay' ? mode.url : null,
    relayFetch: tokenRelayFetch,
  });
  return new TokenWallet(store, fetchTokens, {
    clock: browserClock,
    random: cryptoRandom,
    purposes: tokenPurposes(cfg.evalReports),
  });
}

/** Every port of a browser device; `ranker` is read at each training step (the backend may change it). */
export function browserPorts(cfg: WorkerInit, store: Store, ranker: () => Ranker | null): DevicePorts {
  const transport = new HttpTransport(cfg.server ?? '', browserFetch);
  const tokens = tokenWallet(cfg, store);
  return {
    ...(tokens ? { tokens } : {}),
    store,
    clock: browserClock,
    random: cryptoRandom,
    models: transport,
    // Contributions privatized for a secure round go through secure aggregation, never as plain uploads.
    submitter: new RoutingSubmitter(
      transport,
      new SecAggSubmitter(
        cfg.server ?? '',
        browserFetch,
        store,
        browserClock,
        DEFAULT_FLOORS,
        undefined,
        encodedInputSeam,
      ),
    ),
    evals: transport,
    learner: new RankerLearner(ranker, yieldToMessages),
    lock: webLocks,
  };
}
