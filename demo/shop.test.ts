import { describe, expect, it, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCatalog } from './generate-catalog.ts';
import { loadCatalog, searchProducts, startShop, type Shop } from './shop-server.ts';
import { esc } from './shop-pages.ts';

describe('demo catalog', () => {
  it('is deterministic and the checked-in file matches the generator', () => {
    const a = generateCatalog(20260, 300);
    const b = generateCatalog(20260, 300);
    expect(a).toEqual(b);
    expect(generateCatalog(7, 300).products[0]).not.toEqual(a.products[0]);
    const file = loadCatalog();
    expect(file.seed).toBe(20260);
    expect(file.products).toEqual(a.products);
  });

  it('has 300 unique products over 10 categories with sane prices', () => {
    const { products } = loadCatalog();
    expect(products).toHaveLength(300);
    expect(new Set(products.map((p) => p.id)).size).toBe(300);
    expect(new Set(products.map((p) => p.category)).size).toBe(10);
    for (const p of products) expect(p.price).toBeGreaterThan(0);
  });

  it('search matches all words case-insensitively', () => {
    const { products } = loadCatalog();
    const hits = searchProducts(products, 'AUDIO wireless');
    expect(hits.length).toBeGreaterThan(0);
    for (const h of hits) expect(`${h.name} ${h.category}`.toLowerCase()).toContain('wireless');
    expect(searchProducts(products, 'zzzz-nothing')).toEqual([]);
  });
});

describe('shop server', () => {
  const clientDir = mkdtempSync(join(tmpdir(), 'fedrank-shop-'));
  writeFileSync(join(clientDir, 'fedrank.js'), '/* loader */');
  let shop: Shop;
  afterAll(() => shop?.close());

  it('renders the grid with data attributes and the loader tag', async () => {
    shop = await startShop({
      serverUrl: 'http://127.0.0.1:9',
      clientDir,
      sdkAttributes: { 'min-events': '3' },
    });
    const html = await (await fetch(shop.url + '/')).text();
    expect(html).toContain(
      '<script async src="/fedrank.js" data-server="http://127.0.0.1:9" data-min-events="3">',
    );
    expect(html).toContain('data-fedrank-list');
    expect(html.match(/data-fedrank-item=/g)).toHaveLength(60);
    expect(html).toMatch(
      /data-fedrank-category="[^"]+" data-fedrank-brand="[^"]+" data-fedrank-price="[\d.]+"/,
    );
    expect(html).toContain('data-fedrank-query');
  });

  it('serves search results, the SDK files and refuses path traversal', async () => {
    const html = await (await fetch(shop.url + '/search?q=%3Cscript%3E')).text();
    expect(html).not.toContain('<script>');
    expect(html).toContain('&#60;script&#62;');
    const audio = await (await fetch(shop.url + '/search?q=audio')).text();
    expect(audio.match(/data-fedrank-item=/g)!.length).toBe(30);
    const loader = await fetch(shop.url + '/fedrank.js');
    expect(loader.status).toBe(200);
    expect(loader.headers.get('content-type')).toContain('javascript');
    expect(await loader.text()).toBe('/* loader */');
    expect((await fetch(shop.url + '/..%2Fpackage.json')).status).toBe(404);
    expect((await fetch(shop.url + '/shop.js')).status).toBe(200);
    expect((await fetch(shop.url + '/why.js')).status).toBe(200);
    expect((await fetch(shop.url + '/', { method: 'POST' })).status).toBe(405);
  });

  it('escapes attribute and text content', () => {
    expect(esc(`a"b<c>&'`)).toBe('a&#34;b&#60;c&#62;&#38;&#39;');
  });
});
