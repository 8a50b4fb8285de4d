// How the browser tests (dashboard/, n8n-node/) launch Debian's Chromium
// with Playwright: its path (never a browser Playwright downloads) and the
// flags for a machine whose network is closed.
'use strict';

const chromiumLaunchOptions = () => ({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Chromium's own background traffic would only fail, so it is switched off.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

module.exports = { chromiumLaunchOptions };
