// The Hookbridge Zapier app: custom API-key authentication and one instant
// trigger per event type in the catalog (generated/catalog.json, generated
// from ../schemas), plus "New Event (Any Type)". Labels follow Zapier's
// published-app style (test/style.test.js checks every one).
'use strict';

const authentication = require('./authentication');
const catalog = require('./generated/catalog.json');
const { makeHookTrigger } = require('./lib/hook-trigger');
const { addApiKey, surfaceErrors } = require('./lib/middleware');

const perType = catalog.eventTypes.map((entry) => makeHookTrigger(entry));

const anyEvent = makeHookTrigger({
  key: 'any_event',
  noun: 'Event',
  label: 'New Event (Any Type)',
  description: 'Triggers when any event is published, whatever its type.',
  eventType: '*',
  filterFields: [],
  outputFields: catalog.envelopeFields,
  sample: catalog.eventTypes[0].sample,
});

const triggers = Object.fromEntries([...perType, anyEvent].map((trigger) => [trigger.key, trigger]));

module.exports = {
  version: require('./package.json').version,
  platformVersion: require('zapier-platform-core').version,
  authentication,
  beforeRequest: [addApiKey],
  afterResponse: [surfaceErrors],
  triggers,
};
