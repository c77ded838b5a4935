import { defineConfig } from '@playwright/test';
import { chromiumLaunchOptions } from './e2e/support/chromium.ts';

// Browsers cannot be downloaded here: we drive the system Chromium (override with FEDRANK_CHROMIUM).
export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.ts',
  timeout: 60_000,
  workers: 1,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  outputDir: 'test-results',
  use: {
    launchOptions: chromiumLaunchOptions(),
    trace: 'off',
  },
});
