/**
 * One simulated client measured as a browser worker runs it: in a child process of its own
 * (server/secagg/client-process.ts) taking part in rounds driven by bench/secagg-run.ts, so its heap,
 * collector and WebCrypto pool carry its own round only. Used by bench/secagg-run.ts.
 */
import { ClientProcess } from '../server/secagg/client-process.ts';
import type { SimulationReport } from '../server/secagg/simulate.ts';
import { median, r1 } from './stats.ts';

/**
 * Rounds the own-process clients take part in, and the first counted as warm. The training pass is timed
 * after one warm-up pass, whose kernels run hundreds of times; the masked input's loops run a few times per
 * round, and in a fresh process its third call still cost ~1.5x its eighth (bench run at load 3-7), so four
 * rounds warm up here.
 */
export const OWN_PROCESS_ROUNDS = 8;
/** The first round counted as warm. */
export const OWN_PROCESS_WARM_FROM = 5;

/** CPU ms, by step, of the clients run in their own processes in the round just finished. */
function ownProcessClients(procs: ClientProcess[]) {
  return procs.map((p) => ({
    total: r1(p.stepMs.advertise + p.stepMs.share + p.stepMs.mask + p.stepMs.unmask),
    advertiseKeys: r1(p.stepMs.advertise),
    shareKeys: r1(p.stepMs.share),
    maskedInput: r1(p.stepMs.mask),
    unmask: r1(p.stepMs.unmask),
  }));
}

type OwnClient = ReturnType<typeof ownProcessClients>[number];

/** Medians over clients (and rounds) of each figure. */
function ownMedians(cs: OwnClient[]) {
  const m = (k: keyof OwnClient): number => median(cs.map((c) => c[k]));
  return {
    median: m('total'),
    medianByStep: {
      advertiseKeys: m('advertiseKeys'),
      shareKeys: m('shareKeys'),
      maskedInput: m('maskedInput'),
      unmask: m('unmask'),
    },
  };
}

/**
 * Runs OWN_PROCESS_ROUNDS rounds (`runRound(elsewhere, roundId)`) in which the clients of `slots` each run
 * in the same process of their own throughout: the first round is a fresh process (cold code, a page's
 * first round); the rounds from OWN_PROCESS_WARM_FROM on are warm (a page that stays open: V8 compiles the
 * hot loops on background threads during the first rounds, and that CPU counts). Returns the first round's
 * report (its other clients give the in-round figure) and the own-process figures.
 */
export async function ownProcessRounds<R extends SimulationReport>(
  slots: number[],
  runRound: (elsewhere: Map<number, ClientProcess>, roundId: number) => Promise<R>,
) {
  const procs = slots.map(() => ClientProcess.start());
  const elsewhere = new Map(slots.map((s, i) => [s, procs[i]!]));
  try {
    const first = await runRound(elsewhere, 1);
    const byRound = [ownProcessClients(procs)];
    for (let r = 2; r <= OWN_PROCESS_ROUNDS; r++) {
      await runRound(elsewhere, r);
      byRound.push(ownProcessClients(procs));
    }
    process.stderr.write(
      `own process, totals by round: ${JSON.stringify(byRound.map((cs) => cs.map((c) => c.total)))}\n`,
    );
    const warm = byRound.slice(OWN_PROCESS_WARM_FROM - 1).flat();
    return {
      first,
      firstRound: ownMedians(byRound[0]!),
      warm: { rounds: `${OWN_PROCESS_WARM_FROM}-${OWN_PROCESS_ROUNDS}`, ...ownMedians(warm) },
      byRound,
    };
  } finally {
    await Promise.all(procs.map((p) => p.close()));
  }
}
