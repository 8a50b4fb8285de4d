// Where the Hookbridge service lives. Deployments set HOOKBRIDGE_URL (in the
// Zapier app's environment: `zapier-platform env:set`); tests point it at a
// local service.
'use strict';

const DEFAULT_URL = 'https://api.hookbridge.dev';

const baseUrl = () => (process.env.HOOKBRIDGE_URL || DEFAULT_URL).replace(/\/+$/, '');

module.exports = { baseUrl, DEFAULT_URL };
