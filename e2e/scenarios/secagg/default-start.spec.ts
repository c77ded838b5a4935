/**
 * Scenario: secure aggregation on the product exactly as `npm start` runs it. `fedrank start --shoppers N`
 * in a child process (its default configuration: no override of deadlines, rate limits or clock, the
 * production SDK build; only ports and the data folder are chosen so that it cannot collide with another
 * run), with real Chromium shoppers among its simulated ones. Every update body the browsers send is a
 * masked input with uniform bytes (chi-square test), none goes out as a plain update, and a secure round
 * that holds browsers' masked inputs completes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, expect, type Request } from '@playwright/test';
import { freePort } from '../../../demo/aggregation.ts';
import { ROUTES } from '../../../shared/routes.ts';
import type { SecureRoundView } from '../../../server/secure-rounds.ts';
import { clickCategories, openTimedShopper, sentMessages } from './pages.ts';
import { byteChiSquare, chiSquareCritical } from './uniformity.ts';
import { admin, waitFor, type AdminStatus, type Shopper } from '../support.ts';

const BIN = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'fedrank.mjs');
/**
 * The simulated shoppers of `npm start -- --shoppers 12`: one short of the default survivor threshold
 * (t = 13 of a cohort of 20), so no secure round completes without browsers in it.
 */
const SIMULATED = 12;
const BROWSERS = 4;

type SecureStatus = AdminStatus & {
  secureAggregation: { current: SecureRoundView | null; recent: SecureRoundView[] };
};

/** What `fedrank start` printed: its URLs and operator token. */
interface Started {
  shopUrl: string;
  serverUrl: string;
  token: string;
}

/** Starts `fedrank start` and resolves once it says it is running. */
function start(args: string[], out: string[]): { child: ChildProcess; started: Promise<Started> } {
  const child = spawn(process.execPath, [BIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const started = new Promise<Started>((ok, fail) => {
    let text = '';
    const read = (chunk: Buffer): void => {
      text += chunk.toString();
      out.push(chunk.toString());
      if (!text.includes('Press Ctrl+C to stop.')) return;
      const shop = /Shop:\s+(\S+?)\/?\n/.exec(text);
      const api = /Server API:\s+(\S+)\/v1\/model/.exec(text);
      const token = /Operator token[^\n]*\n\s+(\S+)/.exec(text);
      if (!shop || !api || !token) return fail(new Error(`unexpected start output:\n${text}`));
      ok({ shopUrl: shop[1]!, serverUrl: api[1]!, token: token[1]! });
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', (c: Buffer) => out.push(c.toString()));
    child.once('exit', (code) => fail(new Error(`fedrank start exited (${code}):\n${out.join('')}`)));
  });
  return { child, started };
}

test('default `npm start`: browsers among its simulated shoppers send only uniform masked bodies; a secure round completes', async ({
  browser,
}) => {
  test.setTimeout(180_000);
  const t0 = Date.now();
  const TRACE = (what: string): void =>
    console.log(`[trace ${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'fedrank-e2e-start-'));
  const out: string[] = [];
  const ports = [await freePort(), await freePort()];
  const { child, started } = start(
    [
      ...['--port', String(ports[0]), '--shop-port', String(ports[1]), '--data', dataDir],
      ...['--shoppers', String(SIMULATED), '--no-build'],
    ],
    out,
  );
  const shoppers: Shopper[] = [];
  const sentAt = new Map<Request, number>();
  try {
    const stack = await started;
    TRACE('started');
    for (let i = 0; i < BROWSERS; i++) await openTimedShopper(browser, stack, shoppers, sentAt);
    TRACE('browsers ready');
    await clickCategories(shoppers, 6);
    TRACE('clicked');

    // A secure round that holds browsers' masked inputs completes.
    const status = (): Promise<SecureStatus> => admin<SecureStatus>(stack, 'status');
    const maskedRounds = (): Set<number> =>
      new Set(
        shoppers.flatMap((s) =>
          sentMessages(s, sentAt)
            .filter((x) => x.m.type === 'masked-input')
            .map((x) => x.m.round),
        ),
      );
    const done = await waitFor(
      'a secure round with browsers in it done',
      async () => {
        const s = (await status()).secureAggregation;
        const rounds = maskedRounds();
        return s.recent.find((v) => v.phase === 'done' && rounds.has(v.secureRound));
      },
      (v) => v !== undefined,
      150_000,
      1000,
    );
    TRACE('done ' + JSON.stringify(done));
    expect(done!.survivors.unmask).toBeGreaterThanOrEqual(done!.threshold);

    // Every update body the browsers sent: masked inputs only, each with uniform bytes.
    const plainUploads = shoppers.flatMap((s) =>
      s.serverRequests.filter((r) => r.method() === 'POST' && new URL(r.url()).pathname === ROUTES.updates),
    );
    expect(plainUploads).toEqual([]);
    const critical = chiSquareCritical();
    const masked = shoppers.flatMap((s, i) =>
      sentMessages(s, sentAt)
        .filter((x) => x.m.type === 'masked-input')
        .map((x) => ({ i, round: x.m.round, chi: byteChiSquare(x.body) })),
    );
    expect(masked.filter((x) => x.round === done!.secureRound).length).toBeGreaterThan(0);
    for (const x of masked) expect(x.chi, `browser ${x.i}'s masked input`).toBeLessThan(critical);
    TRACE(`chi-square (critical ${critical.toFixed(1)}): ${masked.map((x) => x.chi.toFixed(0)).join(' ')}`);
    for (const s of shoppers) expect(s.errors).toEqual([]);
  } catch (err) {
    console.log(out.join('').slice(-4000));
    throw err;
  } finally {
    for (const s of shoppers) await s.context.close();
    child.kill('SIGTERM');
    await new Promise((ok) => (child.exitCode !== null ? ok(null) : child.once('exit', ok)));
    rmSync(dataDir, { recursive: true, force: true });
  }
});
