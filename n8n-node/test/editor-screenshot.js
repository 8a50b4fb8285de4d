// Opens a workflow in n8n's editor in Debian's headless Chromium (Playwright
// with executablePath, never a downloaded browser), signs in through the
// sign-in page, opens the Hookbridge Trigger's panel and saves a screenshot.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const { chromiumLaunchOptions } = require('../../tools/e2e/chromium');
const { OWNER } = require('./n8n-harness');

// The panel's text, for the test to check what the screenshot shows.
const screenshotTrigger = async ({ n8nUrl, workflow, file }) => {
	const browser = await chromium.launch(chromiumLaunchOptions());
	try {
		const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
		await page.goto(`${n8nUrl}/signin`);
		await page.locator('input[type="email"]').fill(OWNER.email);
		await page.locator('input[type="password"]').fill(OWNER.password);
		await page.getByRole('button', { name: /sign in/i }).click();
		await page.waitForURL((url) => !url.pathname.startsWith('/signin'));
		await page.goto(`${n8nUrl}/workflow/${workflow.id}`);
		const node = page
			.locator('[data-test-id="canvas-node"]')
			.filter({ hasText: 'Hookbridge Trigger' });
		await node.first().dblclick();
		const panel = page.locator('[data-test-id="ndv"]');
		await panel.getByText('Only When').first().waitFor();
		await page.waitForTimeout(1000);
		fs.mkdirSync(path.dirname(file), { recursive: true });
		await page.screenshot({ path: file });
		return { panelText: await panel.innerText() };
	} finally {
		await browser.close();
	}
};

module.exports = { screenshotTrigger };
