// Where the Hookbridge service lives. Deployments set HOOKBRIDGE_URL (in the
// Zapier app's environment: `zapier-platform env:set`); tests point it at a
// local service.
'use strict';

const DEFAULT_URL = 'https://api.hookbridge.dev';

// Where a user learns how to get an API key: the README's dashboard section
// (https://github.com/hookbridge/hookbridge, Cargo.toml's repository). A
// product publishing its own copy of the app points it at its own help page
// with HOOKBRIDGE_DOCS_URL when it builds and pushes the app.
const DEFAULT_DOCS_URL = 'https://github.com/hookbridge/hookbridge#dashboard';

const baseUrl = () => (process.env.HOOKBRIDGE_URL || DEFAULT_URL).replace(/\/+$/, '');

const docsUrl = () => process.env.HOOKBRIDGE_DOCS_URL || DEFAULT_DOCS_URL;

module.exports = { baseUrl, docsUrl, DEFAULT_URL, DEFAULT_DOCS_URL };
