// Make's app review rules over everything the app defines (test/style-rules.js
// says which): every module, webhook, parameter, interface field and option
// label; the ISO 8601 date next to the unix timestamp, in the interface, the
// samples and the webhook's output; the API key's help; the icon. Also what
// the generator makes of other event types (as producers register them), and
// proof that the rules refuse the labels the app had before.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const generator = require('../scripts/generate');
const { manifest, load, processIncoming } = require('./make-runtime');
const { ajv, schemaFor } = require('./make-schemas');
const {
  labelProblems, parameterProblems, moduleProblems, apiKeyHelpProblems, sentenceCaseProblem, repeatedWord, pngInfo,
} = require('./style-rules');

const ROOT = path.join(__dirname, '..');

const filesOf = (component, read = load) =>
  Object.fromEntries(Object.entries(component.codeFiles).map(([kind, file]) => [kind, read(file)]));

// Every violation in a manifest (and its files, read with `read`).
const appProblems = (app, read = load) => {
  const problems = [];
  for (const [id, connection] of Object.entries(app.components.connection)) {
    problems.push(...labelProblems(`connection ${id}`, connection.label));
    const { params } = filesOf(connection, read);
    problems.push(...parameterProblems(`connection ${id}`, params), ...apiKeyHelpProblems(params));
  }
  for (const [id, webhook] of Object.entries(app.components.webhook)) {
    problems.push(...labelProblems(`webhook ${id}`, webhook.label));
    problems.push(...parameterProblems(`webhook ${id}`, filesOf(webhook, read).params));
  }
  for (const [id, module] of Object.entries(app.components.module)) {
    problems.push(...moduleProblems(id, module, filesOf(module, read)));
  }
  return problems;
};

// A delivery as Hookbridge sends it, through the webhook's own IML.
const deliver = (communication, body) => processIncoming(communication, { body: JSON.stringify(body), headers: {} }).output;

test('every label, help and module follows Make\'s review rules', () => {
  assert.deepEqual(appProblems(manifest), []);
  const groups = load(manifest.generalCodeFiles.groups);
  for (const group of groups) assert.deepEqual(labelProblems('group', group.label), []);
});

test('modules read "Watch <items>" in sentence case', () => {
  const labels = Object.fromEntries(Object.entries(manifest.components.module).map(([id, m]) => [id, m.label]));
  assert.deepEqual(labels, {
    watchGenerationComplete: 'Watch completed generations',
    watchSignup: 'Watch signups',
    watchSubscription: 'Watch subscriptions',
    watchZipCompleted: 'Watch completed zips',
    watchAnyEvent: 'Watch all events',
  });
  const [filter] = load(manifest.components.webhook.generationComplete.codeFiles.params);
  assert.equal(filter.label, 'Only when type is');
  assert.deepEqual(filter.options, [{ label: 'Image', value: 'image' }, { label: 'Video', value: 'video' }]);
});

test('every module offers the timestamp as an ISO 8601 date its webhook computes', () => {
  for (const [id, module] of Object.entries(manifest.components.module)) {
    const files = filesOf(module);
    const field = files.interface.find((item) => item.name === 'timestamp_iso');
    assert.equal(field.type, 'date', id);
    assert.equal(files.samples.timestamp_iso, '2024-03-09T16:00:00.000Z', id);
    const { communication } = filesOf(manifest.components.webhook[module.webhook]);
    const body = { ...files.samples, timestamp: 1767225600, extra: { kept: true } };
    delete body.timestamp_iso;
    const output = deliver(communication, body);
    assert.deepEqual(output, { ...body, timestamp_iso: '2026-01-01T00:00:00.000Z' }, `${id}: every field kept, the date added`);
  }
});

test('the API key\'s help says where to find it, with a link', () => {
  const params = load(manifest.components.connection.hookbridge.codeFiles.params);
  const apiKey = params.find((p) => p.name === 'apiKey');
  assert.deepEqual(apiKeyHelpProblems(params), []);
  assert.match(apiKey.help, /dashboard/);
  assert.match(apiKey.help, /\]\(https:\/\/github\.com\/hookbridge\/hookbridge#dashboard\)/);
});

test('the app has its icon: a 512x512 PNG with a transparent background', () => {
  const icon = path.join(ROOT, 'general', 'icon.png');
  assert.deepEqual(pngInfo(icon), { width: 512, height: 512, alpha: true });
});

test('the generator keeps the rules for any event type a producer registers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-make-style-'));
  const write = (name, schema) => fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(schema));
  write('invoice.paid', {
    type: 'object',
    'x-event-type': 'invoice.paid',
    description: 'An invoice was paid or refunded.',
    properties: {
      invoice_id: { type: 'string', title: 'Invoice ID' },
      status: { type: 'string', enum: ['paid', 'partially_refunded'] },
      region: { type: 'string', title: 'Storage Region Code', enum: ['s3', 'eu-west'] },
      customer: { type: 'object', title: 'Customer', properties: { vatNumber: { type: 'string' } } },
    },
    examples: [{ invoice_id: 'inv_1', status: 'paid', region: 's3' }],
  });
  write('order_item.created', { type: 'object', 'x-event-type': 'order_item.created', description: 'An order item was created.' });
  write('user.signed_up', { type: 'object', 'x-event-type': 'user.signed_up', description: '' });
  write('status', { type: 'object', 'x-event-type': 'status', title: 'Status', description: 'A status changed.' });
  const built = generator.build(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const app = built['makecomapp.json'];
  for (const file of Object.keys(built).filter((f) => f !== 'makecomapp.json' && f.endsWith('.iml.json'))) {
    assert.ok(ajv.validate(schemaFor(file), built[file]), `${file}: ${ajv.errorsText(ajv.errors)}`);
  }
  // The connection is written by hand: read it from disk, the rest from the build.
  const read = (file) => (file in built ? built[file] : load(file));
  assert.deepEqual(appProblems(app, read), []);
  const labels = Object.values(app.components.module).map((m) => m.label);
  assert.deepEqual(labels, [
    'Watch paid invoices', 'Watch new order items', 'Watch statuses', 'Watch signed-up users', 'Watch all events',
  ]);
  assert.equal(app.components.module.watchUserSignedUp.description, 'Triggers when a new user event arrives.');
  const params = built[app.components.webhook.invoicePaid.codeFiles.params];
  assert.deepEqual(params.map((p) => p.label), ['Only when status is', 'Only when storage region code is']);
  assert.deepEqual(params[1].options.map((o) => o.label), ['S3', 'Eu west']);
});

test('the rules refuse the labels the app had before', () => {
  const old = {
    label: 'Watch Zip Completed',
    description: 'Triggers when a zip job finished.',
    moduleType: 'instant_trigger',
  };
  const files = {
    interface: [
      { name: 'timestamp', label: 'Timestamp (Unix seconds)', type: 'uinteger' },
      { name: 'object', label: 'Zip', type: 'collection', spec: [{ name: 'id', label: 'Zip Zip ID', type: 'text' }] },
    ],
    samples: { timestamp: 1710000000 },
    staticParams: [],
  };
  const problems = moduleProblems('watchZipCompleted', old, files).join('\n');
  assert.match(problems, /"Zip" should be lower case in "Watch Zip Completed"/);
  assert.match(problems, /should be plural/);
  assert.match(problems, /"Zip Zip ID" repeats "Zip"/);
  assert.match(problems, /no ISO 8601 date timestamp_iso/);
  assert.match(moduleProblems('watchSignup', { ...old, label: 'Watch Signup' }, files).join('\n'), /should be plural/);
  assert.match(
    parameterProblems('webhook', [{ name: 'type', label: 'Only when Type is', type: 'select', options: [{ label: 'image', value: 'image' }] }]).join('\n'),
    /"Type" should be lower case[\s\S]*option label "image" is not readable/
  );
  assert.deepEqual(
    apiKeyHelpProblems([{ name: 'apiKey', type: 'password', help: "Your Hookbridge API key (it starts with your product's prefix, e.g. `hb_`)." }]),
    ['connection apiKey: the help has no link', 'connection apiKey: the help does not say where to find it']
  );
  assert.equal(sentenceCaseProblem('Timestamp (ISO 8601)'), '');
  assert.equal(sentenceCaseProblem('Timestamp (Unix seconds)'), '');
  assert.match(sentenceCaseProblem('Any Event'), /"Event" should be lower case/);
  assert.equal(repeatedWord('Error Error code'), 'Error');
});
