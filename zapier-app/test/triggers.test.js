// Every trigger end to end against the live service: subscribe, publish a
// real event, see it delivered to the hook URL, run perform on the delivered
// request (and on a tampered copy, which must give nothing), performList,
// unsubscribe twice, publish again and see nothing delivered. What reaches
// the Zap is the delivered event plus `timestamp_iso`, its unix timestamp in
// ISO 8601.
'use strict';

const zapier = require('zapier-platform-core');

const { startHookbridge, startReceiver, admin } = require('../../tools/e2e/service');
const { asZapierRawRequest } = require('./zapier-request');

let service;
let receiver;
let App;
let appTester;
let account;
let producer;

beforeAll(async () => {
  service = await startHookbridge();
  receiver = await startReceiver();
  process.env.HOOKBRIDGE_URL = service.url;
  App = require('../index');
  appTester = zapier.createAppTester(App);
  producer = admin(service);
  account = await producer.newAccount('Zapier tests');
});

afterAll(async () => {
  await receiver.close();
  await service.stop();
});

const catalog = require('../generated/catalog.json');
const exampleOf = (eventType) => {
  const { id, event, timestamp, timestamp_iso, ...data } = catalog.eventTypes.find((t) => t.eventType === eventType).sample;
  return data;
};
// What the app hands Zapier for a delivered event.
const asTriggered = (event) => ({ ...event, timestamp_iso: new Date(event.timestamp * 1000).toISOString() });

// [trigger key, event type to publish]
const cases = catalog.eventTypes.map((t) => [t.key, t.eventType]).concat([['any_event', 'signup']]);

test.each(cases)('%s: subscribe, deliver, verify, list, unsubscribe', async (key, eventType) => {
  const operation = App.triggers[key].operation;
  const hookPath = `/hooks/${key}`;
  const bundle = { authData: { apiKey: account.key }, targetUrl: `${receiver.url}${hookPath}`, inputData: {} };

  const subscription = await appTester(operation.performSubscribe, bundle);
  expect(subscription.id).toMatch(/^sub_/);
  expect(subscription.secret).toMatch(/^whsec_/);
  expect(subscription.source).toBe('zapier');

  const published = await producer.publish(account.id, eventType, exampleOf(eventType));
  const [delivery] = await receiver.waitFor(hookPath, 1);
  const cleanedRequest = JSON.parse(delivery.body);
  expect(cleanedRequest.id).toBe(published.id);
  expect(cleanedRequest.event).toBe(eventType);

  expect(Number.isInteger(cleanedRequest.timestamp)).toBe(true);
  expect(cleanedRequest.timestamp_iso).toBeUndefined();

  const hookBundle = { ...bundle, subscribeData: subscription, rawRequest: asZapierRawRequest(delivery), cleanedRequest };
  const [triggered] = await appTester(operation.perform, hookBundle);
  expect(triggered).toEqual(asTriggered(cleanedRequest));
  expect(triggered.timestamp_iso).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(Date.parse(triggered.timestamp_iso) / 1000).toBe(cleanedRequest.timestamp);
  const plainHeaders = { ...hookBundle.rawRequest, headers: delivery.headers };
  expect(await appTester(operation.perform, { ...hookBundle, rawRequest: plainHeaders })).toEqual([asTriggered(cleanedRequest)]);

  const forgedBody = delivery.body.replace(published.id, 'evt_forged');
  const tampered = {
    ...hookBundle,
    rawRequest: { ...hookBundle.rawRequest, content: forgedBody },
    cleanedRequest: JSON.parse(forgedBody),
  };
  expect(await appTester(operation.perform, tampered)).toEqual([]);
  const otherSecret = { ...hookBundle, subscribeData: { ...subscription, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' } };
  expect(await appTester(operation.perform, otherSecret)).toEqual([]);
  const unsigned = { ...hookBundle, rawRequest: { ...hookBundle.rawRequest, headers: {} } };
  expect(await appTester(operation.perform, unsigned)).toEqual([]);

  const listed = await appTester(operation.performList, bundle);
  expect(listed[0].id).toBe(published.id);
  expect(listed[0]).toEqual(asTriggered(cleanedRequest));

  await appTester(operation.performUnsubscribe, { ...bundle, subscribeData: subscription });
  await appTester(operation.performUnsubscribe, { ...bundle, subscribeData: subscription });

  await producer.publish(account.id, eventType, exampleOf(eventType));
  await new Promise((resolve) => setTimeout(resolve, 800));
  expect(receiver.at(hookPath)).toHaveLength(1);
});

test('the type field becomes a filter: a Zap can trigger on videos only', async () => {
  const operation = App.triggers.generation_complete.operation;
  const hookPath = '/hooks/videos-only';
  const bundle = {
    authData: { apiKey: account.key },
    targetUrl: `${receiver.url}${hookPath}`,
    inputData: { type: ['video'] },
  };
  const subscription = await appTester(operation.performSubscribe, bundle);
  expect(subscription.filter).toEqual({ type: 'video' });
  await producer.publish(account.id, 'generation_complete', { ...exampleOf('generation_complete'), type: 'image' });
  const video = await producer.publish(account.id, 'generation_complete', {
    ...exampleOf('generation_complete'),
    type: 'video',
  });
  const deliveries = await receiver.waitFor(hookPath, 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(receiver.at(hookPath)).toHaveLength(1);
  expect(JSON.parse(deliveries[0].body).id).toBe(video.id);
  const listed = await appTester(operation.performList, bundle);
  expect(listed.every((event) => event.type === 'video')).toBe(true);
  await appTester(operation.performUnsubscribe, { ...bundle, subscribeData: subscription });
});

test('performList falls back to the catalog examples before any event exists', async () => {
  const fresh = await producer.newAccount('No events yet');
  const listed = await appTester(App.triggers.subscription.operation.performList, {
    authData: { apiKey: fresh.key },
    inputData: {},
  });
  expect(listed[0]).toEqual(App.triggers.subscription.operation.sample);
});
