import { test, expect } from '@playwright/test';

test('Chromium opens a page and runs script', async ({ page }) => {
  await page.setContent(
    '<main id="m">fedrank</main><script>document.getElementById("m").dataset.ok = String(1 + 1)</script>',
  );
  await expect(page.locator('#m')).toHaveAttribute('data-ok', '2');
});
