/**
 * `npm run bench:slow-bodies`: the slow-body attack of issue 14 against the real server
 * over loopback. One address opens many uploads of a full-size (f32, default model) body, sends 95% of
 * each and stalls. Measured for the hardened defaults (request timeout, minimum body rate, in-flight
 * caps; the timeout shortened to 5 s so the run is short) and with those limits off (the old behaviour):
 * how many bodies the server started buffering, peak RSS, how many connections were still open after
 * the timeout, and RSS once they are gone (after a GC). Writes bench/results/slow-bodies.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { encodeTensor } from '../shared/codec/tensor-codec.ts';
import { startServer } from '../server/app.ts';
import { makeConfig } from '../server/config.ts';
import { randomId, TEST_TOKEN } from '../server/testing.ts';

const CONNECTIONS = 300;
const TIMEOUT_MS = 5000;
const MiB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rss = (): number => process.memoryUsage().rss;
/** Memory the process's JS holds: heap plus buffers (what a GC can give back, unlike RSS pages). */
const held = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

interface Scenario {
  name: string;
  limits: Record<string, number>;
}

async function run(sc: Scenario) {
  const config = makeConfig({
    db: ':memory:',
    port: 0,
    operatorToken: TEST_TOKEN,
    logLevel: 'silent',
    limits: { perIpPerMinute: 0, perClientPerMinute: 0, ...sc.limits },
    // Tokenless slow bodies must reach the body timeouts this measures (a required token refuses them first).
    tokens: { required: false },
  });
  const s = await startServer(config, { logger: false });
  const a = s.aggregator;
  const body = Buffer.from(
    encodeTensor(
      { kind: 'delta', modelId: a.model.modelId, baseVersion: 0, round: 1, encoding: 'f32' },
      new Float32Array(a.model.paramCount),
    ),
  );
  const part = body.subarray(0, Math.floor(body.length * 0.95));
  gc();
  await sleep(200);
  const baseline = rss();
  const heldBaseline = held();
  const { port } = new URL(s.url);
  const socks: Socket[] = [];
  const replies = new Map<string, number>();
  let open = 0;
  for (let i = 0; i < CONNECTIONS; i++) {
    const sock = connect(Number(port), '127.0.0.1');
    open++;
    let first = '';
    sock.on('data', (d: Buffer) => {
      if (first === '') {
        first = d.toString().split(' ')[1] ?? '?';
        replies.set(first, (replies.get(first) ?? 0) + 1);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => open--);
    sock.write(
      `POST /v1/updates HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.fedrank.tensor\r\n` +
        `X-Fedrank-Client: ${randomId('c')}\r\nIdempotency-Key: ${randomId('k')}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    sock.write(part);
    socks.push(sock);
  }
  let peak = rss();
  let heldPeak = held();
  const t0 = performance.now();
  while (performance.now() - t0 < TIMEOUT_MS + 3000) {
    await sleep(100);
    peak = Math.max(peak, rss());
    heldPeak = Math.max(heldPeak, held());
  }
  const bufferedPeakBytes = s.inflight.total;
  const openAfterTimeout = open;
  for (const k of socks) k.destroy();
  await sleep(500);
  gc();
  await sleep(500);
  gc();
  const after = rss();
  const heldAfter = held();
  await s.close();
  return {
    scenario: sc.name,
    limits: sc.limits,
    connections: CONNECTIONS,
    bodyBytes: body.length,
    sentPerConnection: part.length,
    repliesByStatus: Object.fromEntries(replies),
    inFlightBytesAtEnd: bufferedPeakBytes,
    openAfter8s: openAfterTimeout,
    rssBaselineMiB: +(baseline / MiB).toFixed(1),
    rssPeakMiB: +(peak / MiB).toFixed(1),
    rssAfterCloseMiB: +(after / MiB).toFixed(1),
    heldBaselineMiB: +(heldBaseline / MiB).toFixed(1),
    heldPeakMiB: +(heldPeak / MiB).toFixed(1),
    heldAfterCloseMiB: +(heldAfter / MiB).toFixed(1),
  };
}

const SCENARIOS: Scenario[] = [
  { name: 'hardened defaults (request timeout shortened to 5 s)', limits: { requestTimeoutMs: TIMEOUT_MS } },
  {
    name: 'limits off (the old behaviour: no timeout, no minimum rate, no in-flight caps)',
    limits: {
      requestTimeoutMs: 3_600_000,
      minBodyBytesPerSecond: 0,
      inFlightUploadBytes: 2 ** 40,
      inFlightUploadBytesPerSource: 2 ** 40,
    },
  },
];

// Each scenario runs in a fresh process, so that one's memory does not become the next one's baseline.
if (process.argv[2] === 'child') {
  console.log(JSON.stringify(await run(SCENARIOS[Number(process.argv[3])]!)));
  process.exit(0);
}
const runs = SCENARIOS.map((_, i) => {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', process.argv[1]!, 'child', String(i)],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(out.trim().split('\n').pop()!) as Awaited<ReturnType<typeof run>>;
  console.log(JSON.stringify(r));
  return r;
});
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/slow-bodies.json',
  JSON.stringify(
    {
      benchmark: 'slow request bodies from one address',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      notes: [
        'Each connection sends the headers of a full-size f32 upload and 95% of its body, then stalls; all from 127.0.0.1.',
        'repliesByStatus: first status line each connection received (429: the per-source in-flight cap refused it before its body was read; 408: request timeout).',
        'openAfter8s: connections the server had not closed 8 s after they started (the timeout is 5 s).',
        'rss*: resident set; held*: heapUsed + external + arrayBuffers, what the JS side holds (RSS pages are not always returned to the OS after a GC). After close: the client sockets destroyed, then two GCs. The clients run in the same process but send from one shared buffer.',
        'Each scenario runs in its own process (node --expose-gc).',
      ],
      runs,
    },
    null,
    2,
  ) + '\n',
);
