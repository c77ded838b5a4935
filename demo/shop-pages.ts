/**
 * Server-side HTML of the demo storefront. The only fedrank integration is the script tag and the
 * data-fedrank-* attributes (this file doubles as the README's integration example), plus a small
 * "why this order" panel that reads the public `window.fedrank.status()`.
 */
import type { Product } from './catalog-types.ts';
import { tileSvg } from './tile-art.ts';

/** What every page needs to embed the SDK. */
export interface PageContext {
  /** Aggregation server origin given to the loader as data-server. */
  serverUrl: string;
  /** Extra data-* attributes for the loader script tag (SDK options, e.g. data-min-events). */
  sdkAttributes: Record<string, string>;
  categories: string[];
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function priceText(p: number): string {
  return `€${p.toFixed(2)}`;
}

/** One product tile: the data attributes are what the SDK reads. */
export function productTile(p: Product): string {
  const stars = '★'.repeat(Math.round(p.rating)) + '☆'.repeat(5 - Math.round(p.rating));
  return `<li class="card" data-fedrank-item="${esc(p.id)}" data-fedrank-category="${esc(p.category)}" data-fedrank-brand="${esc(p.brand)}" data-fedrank-price="${p.price}">
  <button type="button" class="tile" data-sku="${esc(p.id)}">
    <span class="img" style="--h:${p.hue}" aria-hidden="true">${tileSvg(p.category)}</span>
    <span class="name">${esc(p.name)}</span>
    <span class="meta">${esc(p.brand)} · <span class="cat">${esc(p.category)}</span></span>
    <span class="row"><span class="price">${priceText(p.price)}</span><span class="stars" title="${p.rating}">${stars}</span></span>
  </button>
</li>`;
}

function scriptTag(ctx: PageContext): string {
  const extra = Object.entries(ctx.sdkAttributes)
    .map(([k, v]) => ` data-${esc(k)}="${esc(v)}"`)
    .join('');
  return `<script async src="/fedrank.js" data-server="${esc(ctx.serverUrl)}"${extra}></script>`;
}

/** A full page: header with search, category chips, a product grid and the status panel. */
export function renderPage(
  ctx: PageContext,
  opts: { title: string; heading: string; products: Product[]; query?: string },
): string {
  const chips = ctx.categories
    .map((c) => `<a class="chip" href="/search?q=${encodeURIComponent(c)}">${esc(c)}</a>`)
    .join('');
  const grid =
    opts.products.length === 0
      ? `<p class="empty">No products match “${esc(opts.query ?? '')}”.</p>`
      : `<ul class="grid" id="products" data-fedrank-list>\n${opts.products.map(productTile).join('\n')}\n</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(opts.title)} · Cobble & Crate</title>
<link rel="stylesheet" href="/shop.css">
${scriptTag(ctx)}
</head>
<body>
<header class="top">
  <a class="logo" href="/">Cobble <span>&amp;</span> Crate</a>
  <form class="search" action="/search" method="get" role="search">
    <input type="search" name="q" placeholder="Search 300 products…" value="${esc(opts.query ?? '')}" data-fedrank-query aria-label="Search">
    <button type="submit">Search</button>
  </form>
  <span class="cart" aria-live="polite">Cart <b id="cart">0</b></span>
</header>
<nav class="chips">${chips}</nav>
<main>
  <div class="content">
    <h1>${esc(opts.heading)}</h1>
    ${grid}
  </div>
  <aside class="why" id="why" aria-live="polite">
    <h2>Why this order?</h2>
    <p class="hint">fedrank can re-order this grid on your device, from your own clicks and a model trained privately across shoppers. Your clicks never leave the browser; only clipped, noised model updates do.</p>
    <p id="why-summary">Loading…</p>
    <dl id="why-status"><dt>Status</dt><dd>loading…</dd></dl>
    <p class="actions"><button type="button" id="why-optout">Opt out</button> <button type="button" id="why-forget">Forget me</button></p>
  </aside>
</main>
<dialog id="quick"><form method="dialog"><div id="quick-body"></div><p class="actions"><button value="cart" id="quick-cart">Add to cart</button> <button value="close">Close</button></p></form></dialog>
<script src="/why.js"></script>
<script src="/shop.js"></script>
</body>
</html>
`;
}
