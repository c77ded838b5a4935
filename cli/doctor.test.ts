import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/app.ts';
import { TEST_TOKEN, testConfig } from '../server/testing.ts';
import { bundleAssets, diagnose, findLoaderTag } from './doctor-checks.ts';

/** A storefront serving a fake SDK build (same file layout and URL forms as dist/client/). */
function fakeShop(serverUrl: () => string, types: Record<string, string>): Server {
  const files: Record<string, [string, string]> = {
    '/fedrank/fedrank.js': [types.js ?? 'text/javascript', 'e.src=o+`sdk.js`'],
    '/fedrank/sdk.js': [
      types.js ?? 'text/javascript',
      'var F=new URL(`assets/worker-AbC.js`,import.meta.url).href;',
    ],
    '/fedrank/assets/worker-AbC.js': [
      types.worker ?? 'text/javascript',
      'var lA=new URL(`tfjs-backend-wasm-XyZ.wasm`,import.meta.url).href',
    ],
    '/fedrank/assets/tfjs-backend-wasm-XyZ.wasm': [types.wasm ?? 'application/wasm', '\0asm'],
  };
  return createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html><script async src="/fedrank/fedrank.js" data-server="${serverUrl()}"></script></html>`);
      return;
    }
    const f = files[req.url ?? ''];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0] }).end(f[1]);
  });
}

const listen = (s: Server): Promise<string> =>
  new Promise((ok) =>
    s.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(s.address() as { port: number }).port}/`)),
  );

describe('fedrank doctor', () => {
  let server: RunningServer;
  let good: Server;
  let badMime: Server;
  let goodUrl = '';
  let badUrl = '';
  beforeAll(async () => {
    good = fakeShop(() => server.url, {});
    badMime = fakeShop(() => server.url, { wasm: 'application/octet-stream' });
    goodUrl = await listen(good);
    badUrl = await listen(badMime);
    server = await startServer(
      testConfig({
        host: '127.0.0.1',
        port: 0,
        allowedOrigins: [new URL(goodUrl).origin, new URL(badUrl).origin],
      }),
    );
  });
  afterAll(async () => {
    good.close();
    badMime.close();
    await server.close();
  });

  it('finds the loader tag and the files a bundle loads', () => {
    expect(
      findLoaderTag(
        '<script src="/a/fedrank.js" data-server="https://agg.example/">',
        'https://shop.example/p',
      ),
    ).toEqual({
      src: 'https://shop.example/a/fedrank.js',
      server: 'https://agg.example/',
    });
    expect(findLoaderTag('<script src="/other.js">', 'https://shop.example/')).toBeNull();
    expect(bundleAssets('new URL(`x.wasm`,import.meta.url)', 'https://s.example/a/w.js')).toEqual([
      'https://s.example/a/x.wasm',
    ]);
  });

  it('passes a correct integration', async () => {
    const r = await diagnose(goodUrl, null);
    expect(r.findings.filter((f) => !f.ok)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => f.id)).toEqual(
      expect.arrayContaining([
        'loader-tag',
        'script-mime',
        'wasm-mime',
        'origin-allowed',
        'cors-preflight',
        'clock-skew',
      ]),
    );
  });

  it('diagnoses a shop opened under another origin, with the fix, and the server counts it', async () => {
    const other = goodUrl.replace('127.0.0.1', 'localhost');
    const r = await diagnose(other, null);
    expect(r.ok).toBe(false);
    const origin = r.findings.find((f) => f.id === 'origin-allowed')!;
    expect(origin.ok).toBe(false);
    expect(origin.fix).toContain(`add "${new URL(other).origin}" to allowedOrigins`);
    expect(r.findings.find((f) => f.id === 'cors-preflight')!.ok).toBe(false);
    const status = (await (
      await fetch(`${server.url}/v1/admin/status`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } })
    ).json()) as { refusedOrigins: { origin: string }[] };
    expect(status.refusedOrigins.map((o) => o.origin)).toContain(new URL(other).origin);
  });

  it('flags a .wasm file served with the wrong MIME type', async () => {
    const r = await diagnose(badUrl, null);
    const wasm = r.findings.find((f) => f.id === 'wasm-mime')!;
    expect(wasm).toMatchObject({ ok: false, fix: 'serve .wasm files as application/wasm' });
  });

  it('flags a skewed clock and a server that is down', async () => {
    const skewed = await diagnose(goodUrl, null, () => Date.now() + 5 * 60_000);
    expect(skewed.findings.find((f) => f.id === 'clock-skew')!.ok).toBe(false);
    const down = await diagnose(goodUrl, 'http://127.0.0.1:9');
    expect(down.findings.find((f) => f.id === 'data-server')!.ok).toBe(false);
    expect(down.findings.find((f) => f.id === 'server-reachable')!.ok).toBe(false);
  });

  it('flags an HTTPS shop talking to a plain-HTTP server', async () => {
    const r = await diagnose('https://127.0.0.1:9/', server.url);
    expect(r.findings.find((f) => f.id === 'https')).toMatchObject({ ok: false });
  });
});
