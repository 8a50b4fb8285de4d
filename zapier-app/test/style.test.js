// Zapier's published-app rules over everything the app defines, since the
// CLI's style check needs Zapier's servers (test/style-rules.js says which
// rules): every trigger (built-in types, Any Event, and what the generator
// makes of other types, as producers register them), the API key's help,
// the ISO 8601 timestamp, the listing's description and logo. The last
// tests show the rules refuse the labels the app had before.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const App = require('../index');
const listing = require('../listing.json');
const pkg = require('../package.json');
const catalogTools = require('../../tools/catalog');
const { build } = require('../scripts/generate');
const { makeHookTrigger } = require('../lib/hook-trigger');
const { withIsoTimestamp, ISO_TIMESTAMP_KEY } = require('../lib/timestamp');
const {
  triggerProblems, authenticationProblems, titleCaseProblem, repeatedWord, linkProblems, pngSize,
} = require('./style-rules');

const ROOT = path.join(__dirname, '..');

test('every trigger follows Zapier\'s style', () => {
  const triggers = Object.values(App.triggers);
  expect(triggers.length).toBeGreaterThan(4);
  expect(triggers.flatMap(triggerProblems)).toEqual([]);
});

test('triggers read as Zapier writes them', () => {
  const display = Object.fromEntries(
    Object.values(App.triggers).map((t) => [t.key, [t.noun, t.display.label]])
  );
  expect(display).toEqual({
    generation_complete: ['Generation', 'New Completed Generation'],
    signup: ['Signup', 'New Signup'],
    subscription: ['Subscription', 'New Subscription'],
    zip_completed: ['Zip', 'New Completed Zip'],
    any_event: ['Event', 'New Event (Any Type)'],
  });
  const zipLabels = App.triggers.zip_completed.operation.outputFields.map((f) => f.label);
  expect(zipLabels).toEqual(expect.arrayContaining(['Zip ID', 'Error Code', 'Zip Bucket Name', 'Zip Size (Bytes)']));
  const choices = App.triggers.generation_complete.operation.inputFields[0].choices;
  expect(choices.map((c) => [c.value, c.label])).toEqual([['image', 'Image'], ['video', 'Video']]);
  expect(App.triggers.generation_complete.operation.inputFields[0].label).toBe('Only When Type Is');
});

test('the API key\'s help says where to find it, with a link', () => {
  expect(authenticationProblems(App.authentication)).toEqual([]);
  const help = App.authentication.fields.find((f) => f.key === 'apiKey').helpText;
  expect(help).toMatch(/dashboard/);
  expect(help).toMatch(/\]\(https:\/\/github\.com\/hookbridge\/hookbridge#dashboard\)/);
});

test('every trigger offers the timestamp as an ISO 8601 datetime, computed by the app', () => {
  expect(ISO_TIMESTAMP_KEY).toBe(catalogTools.ISO_TIMESTAMP_KEY);
  for (const trigger of Object.values(App.triggers)) {
    const field = trigger.operation.outputFields.find((f) => f.key === 'timestamp_iso');
    expect(field).toEqual({ key: 'timestamp_iso', label: 'Timestamp (ISO 8601)', type: 'datetime' });
    expect(trigger.operation.sample.timestamp_iso).toBe('2024-03-09T16:00:00.000Z');
  }
  expect(withIsoTimestamp({ id: 'evt_1', timestamp: 1710000000 })).toEqual({
    id: 'evt_1', timestamp: 1710000000, timestamp_iso: '2024-03-09T16:00:00.000Z',
  });
  expect(withIsoTimestamp({ id: 'evt_2' })).toEqual({ id: 'evt_2' });
  expect(withIsoTimestamp({ timestamp: 'soon' })).toEqual({ timestamp: 'soon' });
  expect(withIsoTimestamp({ timestamp: 1, timestamp_iso: 'kept' })).toEqual({ timestamp: 1, timestamp_iso: 'kept' });
});

test('the generator keeps the rules for any event type a producer registers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-style-'));
  const write = (name, schema) => fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(schema));
  write('invoice.paid', {
    type: 'object',
    'x-event-type': 'invoice.paid',
    description: 'An invoice was paid or refunded.',
    properties: {
      invoice_id: { type: 'string', title: 'Invoice ID' },
      status: { type: 'string', enum: ['paid', 'partially_refunded'] },
      region: { type: 'string', enum: ['s3', 'eu-west'] },
      customer: {
        type: 'object',
        title: 'Customer',
        properties: { customer_id: { type: 'string', title: 'Customer ID' }, vatNumber: { type: 'string' } },
      },
    },
    examples: [{ invoice_id: 'inv_1', status: 'paid', region: 's3' }],
  });
  write('order_item.created', {
    type: 'object', 'x-event-type': 'order_item.created', description: 'API keys of the shop created an order item',
    properties: { order: { type: 'object', properties: { order: { type: 'object', properties: { id: { type: 'string' } } } } } },
  });
  write('user.signed_up', { type: 'object', 'x-event-type': 'user.signed_up', description: '', properties: {} });
  write('ticket', { type: 'object', 'x-event-type': 'ticket', title: 'Support Ticket Of The Day', properties: {} });
  write('payment.updated', { type: 'object', 'x-event-type': 'payment.updated', description: 'Stripe updated a payment.' });
  const generated = build(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const triggers = generated.eventTypes.map((entry) => makeHookTrigger(entry));
  expect(triggers.flatMap(triggerProblems)).toEqual([]);
  const byKey = Object.fromEntries(generated.eventTypes.map((t) => [t.key, t]));
  expect([byKey.invoice_paid.noun, byKey.invoice_paid.label]).toEqual(['Invoice', 'New Paid Invoice']);
  expect(byKey.order_item_created.label).toBe('New Order Item');
  expect(byKey.user_signed_up.label).toBe('New Signed-Up User');
  expect(byKey.user_signed_up.description).toBe('Triggers when a new user event arrives.');
  expect(byKey.payment_updated.label).toBe('Updated Payment');
  expect(byKey.payment_updated.description).toBe('Triggers when Stripe updated a payment.');
  expect(byKey.order_item_created.description).toBe('Triggers when API keys of the shop created an order item.');
  expect(byKey.ticket.label).toBe('New Support Ticket of the Day');
  expect(byKey.invoice_paid.filterFields.map((f) => f.choices.map((c) => c.label))).toEqual([
    ['Paid', 'Partially Refunded'], ['S3', 'Eu West'],
  ]);
  expect(byKey.invoice_paid.outputFields.map((f) => f.label)).toEqual([
    'Event ID', 'Event Type', 'Timestamp (Unix Seconds)', 'Timestamp (ISO 8601)',
    'Invoice ID', 'Status', 'Region', 'Customer ID', 'Customer VAT Number',
  ]);
  expect(byKey.order_item_created.outputFields.map((f) => f.label)).toContain('Order ID');
});

test('the listing has the description and the logo Zapier asks for', () => {
  expect(listing.title).toBe('Hookbridge');
  expect(listing.description.length).toBeLessThanOrEqual(140);
  expect(listing.description).toMatch(/^[A-Z].*\.$/);
  expect(listing.description).not.toMatch(/zapier/i);
  expect(pkg.description).toBe(listing.description);
  expect(listing.homepageUrl).toMatch(/^https:\/\//);
  const logo = path.join(ROOT, listing.logo);
  expect(pngSize(logo)).toEqual({ width: 512, height: 512 });
});

test('the rules refuse the labels the app had before', () => {
  const old = {
    key: 'zip_completed',
    noun: 'Zip Completed',
    display: { label: 'Zip Completed', description: 'Triggers instantly when a zip job finished.' },
    operation: {
      inputFields: [{ key: 'type', label: 'Only When Type Is', choices: [{ value: 'image', label: 'image', sample: 'image' }] }],
      outputFields: [
        { key: 'timestamp', label: 'Timestamp (Unix Seconds)', type: 'integer' },
        { key: 'credits_used', label: 'Credits used', type: 'integer' },
        { key: 'error__code', label: 'Error Error code', type: 'string' },
        { key: 'object__id', label: 'Zip Zip ID', type: 'string' },
      ],
      sample: { timestamp: 1710000000 },
    },
  };
  const problems = triggerProblems(old).join('\n');
  expect(problems).toMatch(/label "Zip Completed" should read "New <Item>"/);
  expect(problems).toMatch(/should start with "Triggers when"/);
  expect(problems).toMatch(/choice label "image" is not readable/);
  expect(problems).toMatch(/"used" should be capitalised in "Credits used"/);
  expect(problems).toMatch(/"Error Error code" repeats "Error"/);
  expect(problems).toMatch(/"Zip Zip ID" repeats "Zip"/);
  expect(problems).toMatch(/no ISO 8601 output field timestamp_iso/);
  const anyEventBefore = { ...old, key: 'any_event', noun: 'Event', display: { label: 'Any Event', description: 'Triggers instantly on every event, whatever its type.' } };
  expect(triggerProblems(anyEventBefore).join('\n')).toMatch(/"Any Event" should read "New <Item>"/);
  const oldAuth = {
    fields: [{ key: 'apiKey', label: 'API Key', type: 'password', helpText: 'Your API key (it starts with your product prefix, e.g. `hb_`).' }],
  };
  expect(authenticationProblems(oldAuth)).toEqual([
    'auth field apiKey: the help text has no link',
    'auth field apiKey: the help text does not say where to find it',
  ]);
  expect(titleCaseProblem('Timestamp (ISO 8601)')).toBe('');
  expect(titleCaseProblem('Support Ticket of the Day')).toBe('');
  expect(titleCaseProblem('Support Ticket Of The Day')).toMatch(/"Of" should be lower case/);
  expect(repeatedWord('Zip Bucket Bucket name')).toBe('Bucket');
  expect(linkProblems('help', 'See https://example.com')).toHaveLength(1);
  expect(linkProblems('help', 'See [the docs](https://example.com) or `https://example.com`')).toEqual([]);
});
