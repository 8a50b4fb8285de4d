// The app's own IML against a live hookbridge: the connection's verification
// call, each webhook's attach, a real delivery to the attached URL carrying
// every field the module's interface promises (and the ISO 8601 date the
// webhook adds), and detach (twice).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const fs = require('fs');

const {
  startHookbridge, startReceiver, admin, exportSchemas, INVOICE_PAID,
} = require('../../tools/e2e/service');
const generator = require('../scripts/generate');
const { manifest, load, execute, processIncoming } = require('./make-runtime');
const { ajv, schemaFor } = require('./make-schemas');
const { moduleProblems, parameterProblems } = require('./style-rules');

let service;
let receiver;
let producer;
let account;
let connection;

test.before(async () => {
  service = await startHookbridge();
  receiver = await startReceiver();
  producer = admin(service);
  account = await producer.newAccount('Make tests');
  connection = { apiKey: account.key, baseUrl: service.url };
});

test.after(async () => {
  await receiver.close();
  await service.stop();
});

const files = (component) =>
  Object.fromEntries(Object.entries(component.codeFiles).map(([kind, file]) => [kind, load(file)]));

// Every example of a type merged into one payload, so each optional field
// (a zip's `error`, its `checksum`) is present at least once.
const deepMerge = (a, b) => {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const merged = { ...a };
    for (const [key, value] of Object.entries(b)) merged[key] = deepMerge(a[key], value);
    return merged;
  }
  return b === undefined ? a : b;
};
const fullExample = async (eventType) => {
  const types = await (await fetch(`${service.url}/v1/event-types`)).json();
  return types.find((t) => t.type === eventType).examples.reduce(deepMerge, {});
};

// Interface fields missing from `output`, as dotted paths.
const missingFields = (spec, output, prefix = '') =>
  spec.flatMap((item) => {
    const value = output == null ? undefined : output[item.name];
    const here = `${prefix}${item.name}`;
    if (value === undefined) return [here];
    return item.spec ? missingFields(item.spec, value, `${here}.`) : [];
  });

test('the connection verifies the key against /v1/me and labels itself', async () => {
  const component = manifest.components.connection.hookbridge;
  const { communication } = files(component);
  const verified = await execute(communication, { parameters: connection }, { useBase: false });
  assert.equal(verified.metadata.value, 'Make tests');
  assert.equal(verified.uid, account.id);
  await assert.rejects(
    execute(communication, { parameters: { ...connection, apiKey: 'hb_wrong' } }, { useBase: false }),
    /\[401\] the API key is not valid/
  );
});

for (const [moduleId, module] of Object.entries(manifest.components.module)) {
  test(`${moduleId}: attach, deliver every interface field, detach twice`, async () => {
    const webhook = files(manifest.components.webhook[module.webhook]);
    const { interface: spec } = files(module);
    const eventType = webhook.attach.body.event === '*' ? 'zip.completed' : webhook.attach.body.event;
    const hookPath = `/make/${module.webhook}`;
    const context = { connection, webhook: { url: `${receiver.url}${hookPath}` }, parameters: {} };

    const attached = await execute(webhook.attach, context, { useBase: true });
    assert.equal(attached.statusCode, 201);
    assert.equal(attached.body.source, 'make');
    const subscriptionId = attached.data.subscriptionId;
    assert.match(subscriptionId, /^sub_/);

    const published = await producer.publish(account.id, eventType, await fullExample(eventType));
    const [delivery] = await receiver.waitFor(hookPath, 1);
    const { output, respond } = processIncoming(webhook.communication, delivery);
    assert.equal(respond.status, 200);
    assert.equal(output.id, published.id);
    assert.deepEqual(missingFields(spec, output), []);
    const delivered = JSON.parse(delivery.body);
    assert.deepEqual(output, { ...delivered, timestamp_iso: new Date(delivered.timestamp * 1000).toISOString() });

    const detachContext = { connection, webhook: { ...context.webhook, subscriptionId } };
    assert.equal((await execute(webhook.detach, detachContext, { useBase: true })).statusCode, 200);
    assert.equal((await execute(webhook.detach, detachContext, { useBase: true })).statusCode, 200);
    await producer.publish(account.id, eventType, await fullExample(eventType));
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(receiver.at(hookPath).length, 1, 'nothing arrives after detach');
  });
}

test('the webhook filter receives only videos: the router recipe', async () => {
  const webhook = files(manifest.components.webhook.generationComplete);
  const hookPath = '/make/videos-only';
  const context = { connection, webhook: { url: `${receiver.url}${hookPath}` }, parameters: { type: ['video'] } };
  const attached = await execute(webhook.attach, context, { useBase: true });
  assert.deepEqual(attached.sent.body.filter, { type: ['video'] });
  const example = await fullExample('generation_complete');
  await producer.publish(account.id, 'generation_complete', { ...example, type: 'image' });
  const video = await producer.publish(account.id, 'generation_complete', { ...example, type: 'video' });
  const [delivery] = await receiver.waitFor(hookPath, 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(receiver.at(hookPath).length, 1);
  assert.equal(JSON.parse(delivery.body).id, video.id);
  const noFilter = await execute(webhook.attach, { ...context, parameters: {} }, { useBase: true });
  assert.equal(noFilter.body.filter, null, 'nothing selected means no filter');
});

test('a registered event type gets a valid webhook and Watch module that deliver and filter', async () => {
  await producer.registerEventType(INVOICE_PAID);
  const dir = exportSchemas(service);
  const built = generator.build(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const module = built['makecomapp.json'].components.module.watchInvoicePaid;
  assert.equal(module.webhook, 'invoicePaid');
  for (const file of Object.values(module.codeFiles).concat(
    Object.values(built['makecomapp.json'].components.webhook.invoicePaid.codeFiles)
  )) {
    assert.ok(ajv.validate(schemaFor(file), built[file]), `${file}: ${ajv.errorsText(ajv.errors)}`);
  }
  const generatedFiles = (component) =>
    Object.fromEntries(Object.entries(component.codeFiles).map(([kind, file]) => [kind, built[file]]));
  const webhook = generatedFiles(built['makecomapp.json'].components.webhook.invoicePaid);
  const { interface: spec } = generatedFiles(module);

  const hookPath = '/make/refunds';
  const context = { connection, webhook: { url: `${receiver.url}${hookPath}` }, parameters: { status: ['refunded'] } };
  const attached = await execute(webhook.attach, context, { useBase: true });
  assert.equal(attached.body.event, 'invoice.paid');
  await producer.publish(account.id, 'invoice.paid', { invoice_id: 'inv_2', amount: 5, status: 'paid' });
  const refund = await producer.publish(account.id, 'invoice.paid', { invoice_id: 'inv_3', amount: 5, status: 'refunded' });
  const [delivery] = await receiver.waitFor(hookPath, 1);
  const { output } = processIncoming(webhook.communication, delivery);
  assert.equal(output.id, refund.id);
  assert.deepEqual(missingFields(spec, output), []);
  assert.equal(Date.parse(output.timestamp_iso) / 1000, JSON.parse(delivery.body).timestamp);
  // Make's review rules hold for it too (test/style-rules.js).
  assert.equal(built['makecomapp.json'].components.module.watchInvoicePaid.label, 'Watch paid invoices');
  assert.deepEqual(moduleProblems('watchInvoicePaid', module, generatedFiles(module)), []);
  assert.deepEqual(parameterProblems('webhook invoicePaid', webhook.params), []);
  assert.deepEqual(webhook.params[0].options.map((o) => o.label), ['Paid', 'Refunded']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(receiver.at(hookPath).length, 1, 'the paid invoice was filtered out');
});
