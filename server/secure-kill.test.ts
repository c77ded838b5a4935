/**
 * Secure aggregation survives SIGKILL of a server process: two `fedrank serve` child processes share one
 * PostgreSQL database; six shoppers speak the relay protocol through a failover transport (each request to
 * the next process, retried on the other when the connection dies, as a load balancer would). In every
 * phase one process is SIGKILLed while the phase's requests are in flight, then restarted; the round still
 * unmasks once, the model moves by exactly the decoded mean of the survivors' encoded inputs (nothing lost,
 * nothing counted twice), both processes serve it, and no key, share or masked sum of the round is left.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor } from '../shared/codec/tensor-codec.ts';
import { roundRotation } from '../shared/secagg/derive.ts';
import { decodeSum, meanOfSum } from '../shared/secagg/encode.ts';
import { ringAddInto } from '../shared/secagg/ring.ts';
import { fromJson } from './secagg/store-codec.ts';
import { freePort, pgAvailability, startPgCluster, type PgCluster } from './store/pg-cluster.ts';
import { smallSpec, UNBOUNDED_ROBUST } from './testing.ts';
import { relayShopper, type Relay } from './testing-relay.ts';
import { bundleServe, removeBundle, ServeProcess } from './testing-serve.ts';

const COHORT = 6;
const DENOMINATOR = 3;
const TOKEN = 'secure-kill-test-token-0123456789';
const SECRET_TABLES = ['secagg_adverts', 'secagg_shares', 'secagg_masked', 'secagg_unmasks', 'secagg_slots'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Each request to the next process in turn; a dead connection is retried on the others. A retried message
 * the server refuses as already sent (or whose phase its own arrival ended) had gone through: 202.
 */
function failoverRelay(procs: ServeProcess[]): Relay {
  let turn = 0;
  return async (req) => {
    const first = turn++;
    for (let k = 0; k < 200; k++) {
      const p = procs[(first + k) % procs.length]!;
      try {
        const res = await fetch(p.base + req.path, {
          method: req.method,
          headers: req.headers,
          ...(req.body ? { body: Buffer.from(req.body) } : {}),
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (k > 0 && res.status === 409 && req.path.endsWith('/messages')) return { status: 202, bytes };
        return { status: res.status, bytes };
      } catch {
        await sleep(25); // connection refused or reset: the process died; try the next
      }
    }
    throw new Error(`no process answered ${req.method} ${req.path}`);
  };
}

const pgs = pgAvailability();
describe.skipIf(!pgs.run)('secure aggregation under SIGKILL, two processes on PostgreSQL', () => {
  let cluster: PgCluster;
  let dir: string;
  let entry: string;
  const procs: ServeProcess[] = [];
  beforeAll(async () => {
    cluster = await startPgCluster({ fsync: false });
    dir = mkdtempSync(join(tmpdir(), 'fedrank-secure-kill-'));
    entry = bundleServe();
  }, 60_000);
  afterAll(async () => {
    for (const p of procs) await p.kill();
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
    removeBundle(entry);
  });

  it('kills one process in each phase; the round unmasks once with exactly the survivors', async () => {
    const url = await cluster.database('secure_kill');
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        tokens: { required: false },
        model: { spec: smallSpec() },
        training: {
          clipNorm: 1,
          noiseMultiplier: 1,
          noiseMode: 'distributed',
          expectedClientsPerRound: DENOMINATOR,
        },
        privacy: { epsilonBudget: null, secureAggregation: true },
        // No phase may end by its deadline on this slow, shared machine: every phase ends complete.
        secureAggregation: { deadlines: { advertise: 600, share: 600, mask: 600, unmask: 600 } },
        rounds: { minClients: 3, maxClients: COHORT, deadlineSeconds: null },
        optimizer: { kind: 'fedavg', learningRate: 1 },
        robust: UNBOUNDED_ROBUST,
        limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
        logLevel: 'warn',
      }),
    );
    const env = { FEDRANK_OPERATOR_TOKEN: TOKEN };
    for (let i = 0; i < 2; i++)
      procs.push(new ServeProcess(entry, ['--config', config, '--store', url], await freePort(), env));
    await Promise.all(procs.map((p) => p.start()));
    const [a, b] = procs as [ServeProcess, ServeProcess];
    const json = async <T>(base: string, path: string): Promise<T> =>
      (await (await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as T;
    const d = (await json<{ paramCount: number }>(a.base, '/v1/model')).paramCount;
    const weights = async (base: string): Promise<Float32Array> =>
      decodeTensor(new Uint8Array(await (await fetch(`${base}/v1/model/weights`)).arrayBuffer()), {
        maxCount: d,
      }).values;
    const before = await weights(a.base);
    const { round, forRound } = await json<{ round: number; forRound: number }>(b.base, '/v1/secagg/current');

    const relay = failoverRelay(procs);
    const shoppers = Array.from({ length: COHORT }, (_, i) => relayShopper(relay, i + 1, round));
    const survivors = shoppers; // dropouts across processes: secure-shared.test.ts
    const inputs: Uint32Array[] = [];
    let restarted = Promise.resolve();
    /**
     * Runs a phase's requests concurrently and SIGKILLs `victim` once the first is answered; the victim
     * restarts while the next phase begins (the phase deadlines run on).
     */
    const phase = async (victim: ServeProcess, work: (() => Promise<unknown>)[]): Promise<void> => {
      let first!: () => void;
      const answered = new Promise<void>((r) => (first = r));
      const all = Promise.all(work.map((w) => w().then(first)));
      await Promise.race([answered, all]);
      await restarted;
      await victim.kill();
      await all;
      restarted = victim.start();
    };
    await phase(
      a,
      shoppers.map((x) => () => x.advertise()),
    );
    await phase(
      b,
      shoppers.map((x) => () => x.share()),
    );
    await phase(
      a,
      survivors.map(
        (x, i) => async () => inputs.push(await x.mask(new Float32Array(d).fill(0.02 * (i + 1)))),
      ),
    );
    // Unmask one at a time: the round finishes as soon as every secret has t shares.
    let killed = false;
    for (const x of survivors) {
      const res = await relay({ method: 'GET', path: `/v1/secagg/rounds/${round}`, headers: {} });
      if ((JSON.parse(Buffer.from(res.bytes).toString()) as { phase: string }).phase !== 'unmask') break;
      await x.unmask();
      if (!killed) {
        await restarted;
        await b.kill();
        restarted = b.start();
      }
      killed = true;
    }
    await restarted;
    for (let i = 0; i < 400; i++) {
      const vs = await Promise.all(procs.map((p) => json<{ version: number }>(p.base, '/v1/model')));
      if (vs.every((v) => v.version === 1)) break;
      await sleep(50);
    }

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const rec = fromJson(
      (await c.query('SELECT record FROM secagg_rounds WHERE round = $1', [round])).rows[0].record,
    );
    let secrets = 0;
    for (const t of SECRET_TABLES)
      secrets += Number(
        (await c.query(`SELECT count(*) AS n FROM ${t} WHERE round = $1`, [round])).rows[0].n,
      );
    await c.end();
    expect(rec.phase, `${rec.failure} ${a.stderr} ${b.stderr}`).toBe('done');
    expect(rec.masked).toHaveLength(COHORT);
    expect(secrets).toBe(0);

    const e = rec.params.encoding;
    const want = new Uint32Array(d);
    for (const x of inputs) ringAddInto(want, x, e.bits);
    const mean = meanOfSum(decodeSum(want, e, await roundRotation(rec.params.seed, round, d)), DENOMINATOR);
    for (const p of procs) {
      expect((await json<{ version: number }>(p.base, '/v1/model')).version).toBe(1);
      const after = await weights(p.base);
      for (let i = 0; i < d; i++) expect(after[i]! - before[i]!).toBeCloseTo(mean[i]!, 5);
    }
    const rounds = await json<{ rounds: { id: number; state: string; participants: number }[] }>(
      a.base,
      '/v1/admin/rounds',
    );
    expect(rounds.rounds.find((r) => r.id === forRound)).toMatchObject({
      state: 'closed',
      participants: COHORT,
    });
  }, 120_000);
});
