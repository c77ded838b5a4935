/**
 * The demo storefront ("Cobble & Crate"): a small node:http server that renders the catalog as real HTML,
 * serves the built SDK (dist/client/) at the site root so the loader is `/fedrank.js`, and embeds it with
 * one script tag. Started by `fedrank start` and by the e2e scenarios through `startShop()`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { parseCatalog, type Catalog, type Product } from './catalog-types.ts';
import { renderPage, type PageContext } from './shop-pages.ts';
import { handleTokenRelay, ShopSessions, TOKEN_RELAY_PATH } from './token-relay.ts';

/** Options of the storefront server. */
export interface ShopOptions {
  /** Aggregation server origin the SDK talks to (data-server). */
  serverUrl: string;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Folder with the built SDK (default dist/client). */
  clientDir?: string;
  /** Defaults to demo/catalog.json. */
  catalog?: Catalog;
  /** Extra data-* attributes for the loader tag (SDK options), without the `data-` prefix. */
  sdkAttributes?: Record<string, string>;
  /** Products on the home page (default 60). */
  featured?: number;
  /** The shop's issuer secret: serves the token relay (token-relay.ts) and points the SDK at it. */
  shopSecret?: string;
}

/** A running storefront. */
export interface Shop {
  url: string;
  port: number;
  /** Changes the aggregation server the pages point the SDK at (takes effect on the next page load). */
  setServerUrl(url: string): void;
  close(): Promise<void>;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '..');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
};

/** Path of the checked-in demo catalog (the server's `model.catalog` in the demo too). */
export const DEMO_CATALOG_PATH = join(HERE, 'catalog.json');

/** Reads and validates demo/catalog.json. */
export function loadCatalog(path = DEMO_CATALOG_PATH): Catalog {
  return parseCatalog(JSON.parse(readFileSync(path, 'utf8')));
}

/** Products whose name, brand or category contain every query word (case-insensitive). */
export function searchProducts(products: Product[], q: string): Product[] {
  const words = q.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return products;
  return products.filter((p) => {
    const hay = `${p.name} ${p.brand} ${p.category}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** Resolves `rel` inside `dir`, or null when it would escape it. */
function safeJoin(dir: string, rel: string): string | null {
  const full = resolve(dir, '.' + sep + rel);
  return full.startsWith(dir + sep) ? full : null;
}

async function sendFile(res: ServerResponse, file: string, cache: string): Promise<boolean> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return false;
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': cache,
    });
    res.end(body);
    return true;
  } catch {
    return false;
  }
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

/** Starts the storefront; resolves once it listens. */
export async function startShop(opts: ShopOptions): Promise<Shop> {
  const catalog = opts.catalog ?? loadCatalog();
  const clientDir = resolve(opts.clientDir ?? join(ROOT, 'dist', 'client'));
  const publicDir = join(HERE, 'public');
  const featured = catalog.products.slice(0, opts.featured ?? 60);
  const categories = [...new Set(catalog.products.map((p) => p.category))].sort();
  const sessions = opts.shopSecret ? new ShopSessions() : null;
  const sdkAttributes = {
    ...(sessions ? { 'token-url': TOKEN_RELAY_PATH } : {}),
    ...(opts.sdkAttributes ?? {}),
  };
  const ctx: PageContext = { serverUrl: opts.serverUrl, sdkAttributes, categories };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (sessions && req.url === TOKEN_RELAY_PATH && req.method === 'POST') {
      await handleTokenRelay(req, res, { serverUrl: ctx.serverUrl, shopSecret: opts.shopSecret!, sessions });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://shop.invalid');
    const path = decodeURIComponent(url.pathname);
    // Pages open a shop session (the relay vouches only for shoppers the shop knows).
    if (path === '/' || path === '/search') sessions?.ensure(req, res);
    if (path === '/') {
      sendHtml(
        res,
        200,
        renderPage(ctx, { title: 'Featured', heading: 'Featured for you', products: featured }),
      );
      return;
    }
    if (path === '/search') {
      const q = (url.searchParams.get('q') ?? '').slice(0, 200);
      const hits = searchProducts(catalog.products, q).slice(0, 120);
      sendHtml(
        res,
        200,
        renderPage(ctx, {
          title: `Search: ${q}`,
          heading: `${hits.length} results for “${q}”`,
          products: hits,
          query: q,
        }),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (path === '/shop.css' || path === '/shop.js' || path === '/why.js') {
      if (await sendFile(res, join(publicDir, path.slice(1)), 'no-cache')) return;
    }
    // The SDK: the loader at /fedrank.js and its chunks next to it, as `vite build` laid them out.
    const file = safeJoin(clientDir, path.slice(1));
    if (file && (await sendFile(res, file, path === '/fedrank.js' ? 'no-cache' : 'public, max-age=300')))
      return;
    sendHtml(
      res,
      404,
      '<!doctype html><title>Not found</title><p>Not found. <a href="/">Back to the shop</a></p>',
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    setServerUrl: (url: string) => {
      ctx.serverUrl = url;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
