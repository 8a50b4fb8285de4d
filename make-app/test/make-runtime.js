// Runs the app's IML the way Make would for the parts the tests drive: a
// connection's verification call, a webhook's attach and detach, and the
// webhook's processing of an incoming delivery.
'use strict';

const fs = require('fs');
const path = require('path');

const { render } = require('./iml');

const ROOT = path.join(__dirname, '..');
const load = (file) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
const manifest = load('makecomapp.json');
const base = load(manifest.generalCodeFiles.base);

// Directives evaluated after the response arrives, with `body` in scope.
const AFTER_RESPONSE = ['response', 'respond', 'output', 'log'];

/**
 * Execute one request directive (a communication, attach or detach) in
 * `context`. `useBase` applies general/base.iml.json (modules and webhooks;
 * a connection's own communication does not use it).
 */
const execute = async (directive, context, { useBase }) => {
  const before = Object.fromEntries(Object.entries(directive).filter(([k]) => !AFTER_RESPONSE.includes(k)));
  const spec = render(before, context);
  const baseSpec = useBase ? render({ baseUrl: base.baseUrl, headers: base.headers }, context) : {};
  const url = new URL(spec.url.startsWith('/') ? `${baseSpec.baseUrl}${spec.url}` : spec.url);
  for (const [key, value] of Object.entries(spec.qs || {})) url.searchParams.set(key, value);
  const headers = { ...(baseSpec.headers || {}), ...(spec.headers || {}) };
  const init = { method: spec.method || 'GET', headers };
  if (spec.body !== undefined) {
    init.body = JSON.stringify(spec.body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(url, init);
  const text = await response.text();
  const body = text ? JSON.parse(text) : undefined;
  const scope = { ...context, body, statusCode: response.status };
  const responseDirective = { ...(useBase ? base.response : {}), ...(directive.response || {}) };
  if (response.status >= 400) {
    const error = render(responseDirective.error || {}, scope);
    throw new Error(error.message || `HTTP ${response.status}`);
  }
  return {
    statusCode: response.status,
    body,
    sent: { url: url.toString(), ...init, body: spec.body },
    data: render(responseDirective.data, scope),
    metadata: render(responseDirective.metadata, scope),
    uid: render(responseDirective.uid, scope),
  };
};

/**
 * What a webhook's communication makes of an incoming delivery: the output
 * bundle as JSON carries it on (dates as ISO 8601 strings).
 */
const processIncoming = (communication, delivery) => {
  const scope = { body: JSON.parse(delivery.body), headers: delivery.headers };
  const output = JSON.parse(JSON.stringify(render(communication.output, scope)));
  return { output, respond: render(communication.respond, scope) };
};

module.exports = { manifest, load, execute, processIncoming };
