import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildServer } from './app.ts';
import { testConfig } from './testing.ts';

describe('dashboard files', () => {
  it('serves the favicon and the page scripts, not the TypeScript beside them', async () => {
    const s = await buildServer(testConfig(), { logger: false });
    try {
      const icon = await s.app.inject('/dashboard/favicon.svg');
      expect(icon.statusCode).toBe(200);
      expect(icon.headers['content-type']).toContain('image/svg+xml');
      expect((await s.app.inject('/dashboard/view-model.js')).statusCode).toBe(200);
      expect((await s.app.inject('/dashboard/view-model.test.ts')).statusCode).toBe(404);
      expect((await s.app.inject('/dashboard/view-model.d.ts')).statusCode).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('works under a strict CSP: no inline scripts, styles or style attributes', () => {
    const dir = new URL('./dashboard/', import.meta.url);
    const html = readFileSync(new URL('index.html', dir), 'utf8');
    for (const m of html.matchAll(/<script\b([^>]*)>/g)) expect(m[1]).toMatch(/\ssrc=/);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    expect(html).toMatch(/<link rel="icon"[^>]*href="favicon\.svg"/);
    for (const file of ['dashboard.js', 'charts.js', 'view-model.js'])
      expect(readFileSync(new URL(file, dir), 'utf8')).not.toMatch(/style=|innerHTML/);
  });
});
