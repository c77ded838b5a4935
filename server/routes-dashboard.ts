/** Static operator dashboard at /dashboard/ (files in server/dashboard/, uPlot from node_modules). */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

export async function registerDashboard(app: FastifyInstance): Promise<void> {
  const root = fileURLToPath(new URL('./dashboard/', import.meta.url));
  if (!existsSync(root)) return;
  app.get('/dashboard', async (_req, reply) => reply.redirect('/dashboard/', 301));
  // Only the dashboard's own page, scripts and styles: never its tests, types or anything added later.
  const served = new Set(
    readdirSync(root)
      .filter((f) => /\.(html|js|css|svg)$/.test(f) && !/\.test\./.test(f))
      .map((f) => `/${f}`),
  );
  await app.register(fastifyStatic, {
    root,
    prefix: '/dashboard/',
    index: ['index.html'],
    wildcard: true,
    allowedPath: (path) => path === '/' || served.has(path),
  });
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  await app.register(fastifyStatic, {
    root: uplot,
    prefix: '/dashboard/vendor/',
    decorateReply: false,
    allowedPath: (path) => path === '/uPlot.iife.min.js' || path === '/uPlot.min.css',
  });
}
