import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureOperatorToken } from '../server/operator-token.ts';
import { clientBuildIsStale } from './build-client.ts';
import { startStack, type Stack } from './stack.ts';
import { run as start } from '../cli/start.ts';

const tmp = mkdtempSync(join(tmpdir(), 'fedrank-stack-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('operator token', () => {
  it('is random, private (0600) and stable across runs', () => {
    const dir = join(tmp, 'data-a');
    const a = ensureOperatorToken(dir);
    expect(a.created).toBe(true);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(a.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const again = ensureOperatorToken(dir);
    expect(again).toEqual({ ...a, created: false });
    expect(ensureOperatorToken(join(tmp, 'data-b')).token).not.toBe(a.token);
  });

  it('replaces a truncated token file', () => {
    const dir = join(tmp, 'data-c');
    mkdirSync(dir);
    writeFileSync(join(dir, 'operator-token'), 'short\n');
    const t = ensureOperatorToken(dir);
    expect(t.created).toBe(true);
    expect(t.token.length).toBeGreaterThanOrEqual(32);
  });
});

describe('client build staleness', () => {
  it('is stale when the loader is missing or older than a source file', () => {
    const root = join(tmp, 'repo');
    mkdirSync(join(root, 'client'), { recursive: true });
    mkdirSync(join(root, 'shared'), { recursive: true });
    writeFileSync(join(root, 'client', 'a.ts'), '');
    expect(clientBuildIsStale(root)).toBe(true);
    mkdirSync(join(root, 'dist', 'client'), { recursive: true });
    writeFileSync(join(root, 'dist', 'client', 'fedrank.js'), '');
    const old = new Date(Date.now() - 60_000);
    const built = new Date(Date.now() - 30_000);
    utimesSync(join(root, 'client', 'a.ts'), old, old);
    utimesSync(join(root, 'dist', 'client', 'fedrank.js'), built, built);
    expect(clientBuildIsStale(root)).toBe(false);
    writeFileSync(join(root, 'shared', 'b.ts'), '');
    expect(clientBuildIsStale(root)).toBe(true);
  });
});

describe('local stack', () => {
  let stack: Stack | undefined;
  afterAll(async () => stack?.close());

  it('wires the shop to the server: data-server, CORS for the shop origin only, admin behind the token', async () => {
    stack = await startStack({ dataDir: join(tmp, 'stack'), server: { logLevel: 'silent' } });
    const html = await (await fetch(stack.shopUrl + '/')).text();
    expect(html).toContain(`data-server="${stack.serverUrl}"`);
    const fromShop = await fetch(stack.serverUrl + '/v1/model', { headers: { origin: stack.shopUrl } });
    expect(fromShop.status).toBe(200);
    expect(fromShop.headers.get('access-control-allow-origin')).toBe(stack.shopUrl);
    const elsewhere = await fetch(stack.serverUrl + '/v1/model', {
      headers: { origin: 'http://evil.example' },
    });
    expect(elsewhere.status).toBe(403);
    expect((await fetch(stack.serverUrl + '/v1/admin/status')).status).toBe(401);
    const ok = await fetch(stack.serverUrl + '/v1/admin/status', {
      headers: { authorization: `Bearer ${stack.token}` },
    });
    expect(ok.status).toBe(200);
    expect((await fetch(stack.dashboardUrl)).headers.get('content-type')).toContain('text/html');

    // Restart on the same port and database keeps the URL the pages were given.
    await stack.stopServer();
    await expect(fetch(stack.serverUrl + '/healthz')).rejects.toThrow();
    await stack.startServer();
    expect((await fetch(stack.serverUrl + '/healthz')).status).toBe(200);
  });
});

describe('fedrank start arguments', () => {
  it('refuses bad options with exit code 2', async () => {
    expect(await start(['--port', 'x'])).toBe(2);
    expect(await start(['--port', '9000', '--shop-port', '9000'])).toBe(2);
    expect(await start(['--shoppers', '-1'])).toBe(2);
    expect(await start(['--bogus'])).toBe(2);
    expect(await start(['extra'])).toBe(2);
  });
});
