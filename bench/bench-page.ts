/**
 * A headless Chromium page for browser benchmarks: a secure context (an https origin served from memory,
 * so WebCrypto is there and nothing leaves the machine) running an esbuild bundle of shared code, and the
 * renderer process's CPU time read through the DevTools protocol.
 */
import type { Browser, CDPSession, Page } from '@playwright/test';

/** The page with `script` loaded, its DevTools session, and a reader of the renderer's CPU ms so far. */
export async function openBenchPage(
  browser: Browser,
  script: string,
): Promise<{ page: Page; cdp: CDPSession; processMs: () => Promise<number> }> {
  const page = await browser.newPage();
  await page.route('https://bench.fedrank.invalid/**', (r) =>
    r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' }),
  );
  await page.goto('https://bench.fedrank.invalid/');
  await page.addScriptTag({ content: script });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const processMs = async (): Promise<number> =>
    (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ProcessTime')!.value * 1000;
  return { page, cdp, processMs };
}
