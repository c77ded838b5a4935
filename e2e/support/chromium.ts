import { execFileSync } from 'node:child_process';
import type { LaunchOptions } from '@playwright/test';

/** Path of the Chromium binary: FEDRANK_CHROMIUM, else `chromium` (Debian's) on PATH. */
export function chromiumPath(): string {
  const fromEnv = process.env.FEDRANK_CHROMIUM;
  if (fromEnv) return fromEnv;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error('No Chromium found: install Debian chromium or set FEDRANK_CHROMIUM to a Chromium binary');
}

/** Base flags for headless Chromium on a closed-network root machine; `extra` adds or disables features. */
export function chromiumLaunchOptions(extra: string[] = []): LaunchOptions {
  return {
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      '--enable-unsafe-webgpu',
      '--enable-unsafe-swiftshader',
      ...extra,
    ],
  };
}
