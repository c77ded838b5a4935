import { defineConfig } from 'vitest/config';

// Unit tests live next to the code; Playwright owns e2e/.
export default defineConfig({
  test: {
    include: [
      'shared/**/*.test.ts',
      'server/**/*.test.ts',
      'client/**/*.test.ts',
      'cli/**/*.test.ts',
      'eval/**/*.test.ts',
      'demo/**/*.test.ts',
    ],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
