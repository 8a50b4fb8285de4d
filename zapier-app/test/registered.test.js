// A producer's own event type (POST /v1/event-types) reaches the Zapier app:
// exported from the live service, turned into a trigger by the same generator
// as the built-in types, valid for Zapier, and working end to end with its
// enum field as a filter.
'use strict';

const fs = require('fs');
const zapier = require('zapier-platform-core');

const {
  startHookbridge, startReceiver, admin, exportSchemas, INVOICE_PAID,
} = require('../../tools/e2e/service');
const { build } = require('../scripts/generate');
const { makeHookTrigger } = require('../lib/hook-trigger');
const { asZapierRawRequest } = require('./zapier-request');
const { triggerProblems } = require('./style-rules');

let service;
let receiver;
let schemasDir;

beforeAll(async () => {
  service = await startHookbridge();
  receiver = await startReceiver();
  process.env.HOOKBRIDGE_URL = service.url;
  await admin(service).registerEventType(INVOICE_PAID);
  schemasDir = exportSchemas(service);
});

afterAll(async () => {
  fs.rmSync(schemasDir, { recursive: true, force: true });
  await receiver.close();
  await service.stop();
});

test('a registered type becomes a valid trigger that filters and verifies deliveries', async () => {
  const generated = build(schemasDir);
  const entry = generated.eventTypes.find((t) => t.eventType === 'invoice.paid');
  expect(entry.key).toBe('invoice_paid');
  expect(entry.filterFields.map((f) => [f.key, f.choices.map((c) => c.value)])).toEqual([['status', ['paid', 'refunded']]]);
  expect(entry.outputFields.map((f) => f.key)).toEqual(['id', 'event', 'timestamp', 'timestamp_iso', 'amount', 'invoice_id', 'status']);
  expect(entry.sample.invoice_id).toBe('inv_1');
  // Zapier's style holds for it too (test/style-rules.js).
  expect([entry.noun, entry.label, entry.description]).toEqual([
    'Invoice', 'New Paid Invoice', 'Triggers when an invoice was paid or refunded.',
  ]);
  expect(entry.filterFields[0].choices.map((c) => c.label)).toEqual(['Paid', 'Refunded']);
  expect(triggerProblems(makeHookTrigger(entry))).toEqual([]);

  const base = require('../index');
  const trigger = makeHookTrigger(entry);
  const App = { ...base, triggers: { ...base.triggers, [trigger.key]: trigger } };
  const validation = await zapier.createAppHandler(App)({ command: 'validate' });
  expect(validation.results).toEqual([]);

  const appTester = zapier.createAppTester(App);
  const producer = admin(service);
  const account = await producer.newAccount('Registered types');
  const hookPath = '/hooks/refunds';
  const bundle = {
    authData: { apiKey: account.key },
    targetUrl: `${receiver.url}${hookPath}`,
    inputData: { status: ['refunded'] },
  };
  const operation = App.triggers.invoice_paid.operation;
  const subscription = await appTester(operation.performSubscribe, bundle);
  expect(subscription.filter).toEqual({ status: 'refunded' });

  await producer.publish(account.id, 'invoice.paid', { invoice_id: 'inv_2', amount: 5, status: 'paid' });
  const refund = await producer.publish(account.id, 'invoice.paid', { invoice_id: 'inv_3', amount: 5, status: 'refunded' });
  const [delivery] = await receiver.waitFor(hookPath, 1);
  const cleanedRequest = JSON.parse(delivery.body);
  expect(cleanedRequest.id).toBe(refund.id);
  const hookBundle = { ...bundle, subscribeData: subscription, rawRequest: asZapierRawRequest(delivery), cleanedRequest };
  expect(await appTester(operation.perform, hookBundle)).toEqual([
    { ...cleanedRequest, timestamp_iso: new Date(cleanedRequest.timestamp * 1000).toISOString() },
  ]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(receiver.at(hookPath)).toHaveLength(1);
});
