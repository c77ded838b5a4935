/**
 * Durability under SIGKILL, for real: the server runs as a child process (the `fedrank serve` command,
 * precompiled once with esbuild so a restart costs a fraction of a second instead of tsx's start-up),
 * concurrent uploaders send updates with known constant values, and the child is SIGKILLed at random
 * moments across uploads and round closes, then restarted on the same database. Unanswered uploads are
 * retried with the same idempotency key (as the SDK's outbox does). At the end every acknowledged key must
 * be counted exactly once: per-round participant counts and the final model (FedAvg, learning rate 1:
 * weights = initial + sum over rounds of the round's sum / expectedClientsPerRound) must all match the acks.
 *
 * Three scenarios: one process on SQLite, one process on PostgreSQL (a throwaway cluster), and two processes
 * on one PostgreSQL database with uploads spread over both, where one of them is SIGKILLed at a time while
 * the other carries on and takes the killed one's retries (as a load balancer would send them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor, encodeTensor } from '../shared/codec/tensor-codec.ts';
import { pgAvailability, startPgCluster, type PgCluster } from './store/pg-cluster.ts';
import { randomId, smallSpec, UNBOUNDED_ROBUST } from './testing.ts';
import { bundleServe, removeBundle } from './testing-serve.ts';

const UPLOADERS = 6;
/** The fixed denominator of every round (training.expectedClientsPerRound). */
const DENOMINATOR = 1;
const TOKEN = 'durability-test-token-0123456789';

interface Update {
  key: string;
  client: string;
  value: number;
  body: Uint8Array;
}
interface Ack {
  accepted: boolean;
  duplicate: boolean;
  round: number;
  modelVersion: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  name: string;
  kills: number;
  /** Server processes sharing the store (more than one needs PostgreSQL). */
  processes: number;
  postgres: boolean;
}

const pg = pgAvailability();
const SCENARIOS: Scenario[] = [
  { name: 'SQLite, one process', kills: 50, processes: 1, postgres: false },
  // 30 + 20 kills on PostgreSQL (50 in all), so the three scenarios fit CI's time on two cores.
  { name: 'PostgreSQL, one process', kills: 30, processes: 1, postgres: true },
  { name: 'PostgreSQL, two processes, one killed at a time', kills: 20, processes: 2, postgres: true },
];

describe('SIGKILL durability', () => {
  let dir: string;
  let entry: string;
  const children = new Set<ChildProcess>();
  let cluster: PgCluster | null = null;
  let dbs = 0;

  beforeAll(async () => {
    if (pg.run) cluster = await startPgCluster({ fsync: false });
    dir = mkdtempSync(join(tmpdir(), 'fedrank-kill-'));
    entry = bundleServe();
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
    removeBundle(entry);
  });

  for (const sc of SCENARIOS) {
    it.skipIf(sc.postgres && !pg.run)(
      `${sc.name}: loses and double-counts nothing over ${sc.kills}+ kills`,
      async () => {
        const ports = await Promise.all(Array.from({ length: sc.processes }, () => freePort()));
        const bases = ports.map((p) => `http://127.0.0.1:${p}`);
        const configPath = join(dir, `config-${dbs}.json`);
        writeFileSync(
          configPath,
          JSON.stringify({
            // Durability, not admission: uploads come without contribution tokens.
            tokens: { required: false },
            model: { spec: smallSpec() },
            training: {
              clipNorm: 1000,
              noiseMultiplier: 0,
              noiseMode: 'local',
              expectedClientsPerRound: DENOMINATOR,
            },
            privacy: { epsilonBudget: null },
            rounds: {
              minClients: 3,
              maxClients: 5,
              deadlineSeconds: null,
              maxStaleness: 100_000,
              stalenessAlpha: 0,
            },
            optimizer: { kind: 'fedavg', learningRate: 1 },
            // The weights are checked against the exact sum of the rounds' steps.
            robust: UNBOUNDED_ROBUST,
            limits: { perIpPerMinute: 0, perClientPerMinute: 0 },
            logLevel: 'warn',
          }),
        );
        const storeArgs = sc.postgres
          ? ['--store', await cluster!.database(`durability_${dbs++}`)]
          : ['--db', join(dir, `fedrank-${dbs++}.db`)];
        let stderr = '';

        const start = (i: number): ChildProcess => {
          const c = spawn(
            process.execPath,
            [entry, '--config', configPath, ...storeArgs, '--port', String(ports[i])],
            {
              env: { ...process.env, FEDRANK_OPERATOR_TOKEN: TOKEN },
              stdio: ['ignore', 'ignore', 'pipe'],
            },
          );
          c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
          children.add(c);
          return c;
        };
        const kill = async (c: ChildProcess): Promise<void> => {
          if (c.exitCode === null && c.signalCode === null) {
            const exited = new Promise((r) => c.once('exit', r));
            c.kill('SIGKILL');
            await exited;
          }
          children.delete(c);
        };
        const ready = async (c: ChildProcess, base: string): Promise<void> => {
          for (let i = 0; i < 3000; i++) {
            if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode}: ${stderr}`);
            try {
              const r = await fetch(`${base}/healthz`);
              if (r.ok) return;
            } catch {
              // not listening yet
            }
            await sleep(10);
          }
          throw new Error(`server did not become ready: ${stderr}`);
        };
        const manifest = async (
          base: string,
        ): Promise<{ modelId: string; version: number; paramCount: number; round: { id: number } | null }> =>
          (await fetch(`${base}/v1/model`)).json() as never;

        // The exact count of the open round is an operator figure (the public manifest has none).
        const adminRound = async (base: string): Promise<{ version: number; accepted: number }> => {
          const headers = { authorization: `Bearer ${TOKEN}` };
          const st = (await (await fetch(`${base}/v1/admin/status`, { headers })).json()) as {
            model: { version: number };
            round: { accepted: number } | null;
          };
          return { version: st.model.version, accepted: st.round?.accepted ?? 0 };
        };

        const pending = new Map<string, Update>(); // sent, fate unknown
        const acks = new Map<string, Ack[]>();
        const values = new Map<string, number>();
        const unexpected: string[] = [];

        const send = async (u: Update, base: string): Promise<boolean> => {
          pending.set(u.key, u);
          let res: Response;
          try {
            res = await fetch(`${base}/v1/updates`, {
              method: 'POST',
              body: Buffer.from(u.body),
              headers: {
                'content-type': 'application/vnd.fedrank.tensor',
                'x-fedrank-client': u.client,
                'idempotency-key': u.key,
              },
            });
          } catch {
            return false; // connection died: the fate of this upload is unknown, retry after restart
          }
          const text = await res.text().catch(() => null);
          if (text === null) return false;
          if (res.status !== 200 && res.status !== 201) {
            unexpected.push(`${res.status} ${text}`);
            return false;
          }
          const ack = JSON.parse(text) as Ack;
          acks.set(u.key, [...(acks.get(u.key) ?? []), ack]);
          pending.delete(u.key);
          return true;
        };

        const procs = ports.map((_, i) => start(i));
        await Promise.all(procs.map((c, i) => ready(c, bases[i]!)));
        const m0 = await manifest(bases[0]!);
        const n = m0.paramCount;
        const weightsOf = async (base: string): Promise<Float32Array> =>
          decodeTensor(new Uint8Array(await (await fetch(`${base}/v1/model/weights`)).arrayBuffer()), {
            maxCount: n,
          }).values;
        const initial = await weightsOf(bases[0]!);

        const newUpdate = (m: { modelId: string; version: number; round: { id: number } | null }): Update => {
          const value = 1 + Math.floor(Math.random() * 8);
          const body = encodeTensor(
            {
              kind: 'delta',
              modelId: m.modelId,
              baseVersion: m.version,
              round: m.round?.id ?? 0,
              encoding: 'f32',
            },
            new Float32Array(n).fill(value),
          );
          const u = { key: randomId('k'), client: randomId('c'), value, body };
          values.set(u.key, value);
          return u;
        };

        let killsDuringUploads = 0;
        let killsAtStartup = 0;
        const t0 = performance.now();
        while (killsDuringUploads < sc.kills) {
          const v = Math.floor(Math.random() * sc.processes); // the victim; the others stay up
          if (Math.random() < 0.1) {
            // Now and then, kill during start-up / recovery itself.
            await kill(procs[v]!);
            procs[v] = start(v);
            await sleep(Math.random() * 150);
            await kill(procs[v]!);
            killsAtStartup++;
            procs[v] = start(v);
          }
          await Promise.all(procs.map((c, i) => ready(c, bases[i]!)));
          const m = await manifest(bases[v]!);
          let stop = false;
          const alive = new Set(bases);
          const retries = [...pending.values()];
          // Each upload goes to a random live process; a worker whose connection died stops.
          const target = (): string => {
            const live = [...alive];
            return live[Math.floor(Math.random() * live.length)]!;
          };
          const workers = Array.from({ length: UPLOADERS }, async (_, w) => {
            for (let i = w; i < retries.length && !stop; i += UPLOADERS)
              if (!(await send(retries[i]!, target()))) return;
            while (!stop && alive.size > 0) if (!(await send(newUpdate(m), target()))) return;
          });
          await sleep(10 + Math.random() * 200);
          const inFlight = pending.size;
          alive.delete(bases[v]!);
          await kill(procs[v]!);
          // With several processes the others carry on for a while (the killed one's uploads fail over).
          if (sc.processes > 1) await sleep(Math.random() * 100);
          stop = true;
          await Promise.all(workers);
          if (inFlight > 0) killsDuringUploads++;
          procs[v] = start(v);
        }
        // Final run: retry everything still unanswered until it is acknowledged, spread over the processes.
        await Promise.all(procs.map((c, i) => ready(c, bases[i]!)));
        while (pending.size > 0) {
          const batch = [...pending.values()];
          await Promise.all(batch.map((u, i) => send(u, bases[i % bases.length]!)));
          expect(unexpected).toEqual([]);
        }
        const seconds = (performance.now() - t0) / 1000;
        expect(unexpected).toEqual([]);
        // The last ack may have filled a round whose close is still committing: wait until every process
        // shows the same version and an open round below maxClients (nothing left to close).
        for (;;) {
          const ms = await Promise.all(bases.map((b) => adminRound(b)));
          const settled = ms.every((x) => x.version === ms[0]!.version && x.accepted < 5);
          if (settled) break;
          await sleep(10);
        }

        // Each key: at most one non-duplicate ack, and all its acks name the same round.
        const roundOf = new Map<string, number>();
        for (const [key, list] of acks) {
          expect(list.filter((a) => !a.duplicate).length, key).toBeLessThanOrEqual(1);
          expect(new Set(list.map((a) => a.round)).size, key).toBe(1);
          roundOf.set(key, list[0]!.round);
        }
        const byRound = new Map<number, number[]>();
        for (const [key, r] of roundOf) byRound.set(r, [...(byRound.get(r) ?? []), values.get(key)!]);

        const base = bases[0]!;
        const auth = { authorization: `Bearer ${TOKEN}` };
        const rounds = (
          (await (await fetch(`${base}/v1/admin/rounds?limit=10000`, { headers: auth })).json()) as {
            rounds: {
              id: number;
              state: string;
              participants: number;
              resultVersion: number | null;
            }[];
          }
        ).rounds.sort((a, b) => a.id - b.id);
        const final = await manifest(base);
        const closed = rounds.filter((r) => r.state === 'closed');
        expect(final.version).toBe(closed.length);
        const expected = new Float64Array(n);
        for (const r of rounds) {
          const vals = byRound.get(r.id) ?? [];
          expect(r.participants, `round ${r.id}`).toBe(vals.length);
          if (r.state !== 'closed') continue;
          expect(r.resultVersion).toBe(closed.indexOf(r) + 1);
          // The round's sum over the fixed denominator (expectedClientsPerRound), not over the realized count.
          const step = vals.reduce((a, b) => a + b, 0) / DENOMINATOR;
          for (let i = 0; i < n; i++) expected[i]! += step;
        }
        // every acknowledged round exists
        for (const r of byRound.keys())
          expect(
            rounds.some((x) => x.id === r),
            `round ${r}`,
          ).toBe(true);
        // Every process serves the same final model.
        const weights = await weightsOf(base);
        for (const b of bases.slice(1)) {
          expect((await manifest(b)).version, b).toBe(final.version);
          expect(await weightsOf(b)).toEqual(weights);
        }
        // The server adds each round's float32 mean into float32 weights: every round may round the result by
        // one ulp of the largest magnitude involved, so the bound grows with rounds (a miscounted update would
        // also show in the participant counts above).
        const ulp32 = (x: number): number => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 1e-30))) - 23);
        let maxAbs = 8;
        for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[i]!), Math.abs(initial[i]!));
        const tol = (closed.length + 1) * 2 * ulp32(maxAbs);
        for (let i = 0; i < n; i++) {
          const err = Math.abs(weights[i]! - initial[i]! - expected[i]!);
          expect(err, `parameter ${i}: error ${err} over bound ${tol}`).toBeLessThanOrEqual(tol);
        }
        const acked = roundOf.size;
        console.log(
          `durability (${sc.name}): ${killsDuringUploads} kills during uploads + ${killsAtStartup} during start-up in ${seconds.toFixed(0)} s; ` +
            `${acked} updates acknowledged over ${closed.length} closed rounds, all counted exactly once`,
        );
        expect(closed.length).toBeGreaterThan(5);
        for (const c of procs) await kill(c);
      },
      600_000,
    );
  }
});
