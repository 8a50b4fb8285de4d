// Builds one REST hook trigger: subscribe and unsubscribe through
// /v1/hooks, verify each delivery's signature before triggering, and poll
// /v1/events for samples while a Zap is being built. Every event it hands
// Zapier also carries `timestamp_iso` (lib/timestamp.js).
'use strict';

const { baseUrl } = require('./config');
const { verifyDelivery } = require('./signature');
const { withIsoTimestamp } = require('./timestamp');

const asList = (value) => {
  if (Array.isArray(value)) return value.filter((v) => v !== '' && v != null);
  if (value === undefined || value === null || value === '') return [];
  return String(value)
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
};

// The subscription filter from the trigger's optional enum fields.
const filterFrom = (filterFields, inputData) => {
  const filter = {};
  for (const field of filterFields) {
    const values = asList((inputData || {})[field.key]);
    if (values.length) filter[field.key] = values;
  }
  return Object.keys(filter).length ? filter : undefined;
};

/**
 * A hook trigger for `eventType` (`*` for every type).
 */
const makeHookTrigger = ({ key, noun, label, description, eventType, filterFields, outputFields, sample }) => {
  const performSubscribe = async (z, bundle) => {
    const response = await z.request({
      url: `${baseUrl()}/v1/hooks`,
      method: 'POST',
      body: {
        hookUrl: bundle.targetUrl,
        event: eventType,
        filter: filterFrom(filterFields, bundle.inputData),
      },
    });
    return response.data;
  };

  const performUnsubscribe = async (z, bundle) => {
    const id = bundle.subscribeData && bundle.subscribeData.id;
    if (!id) return { deleted: false };
    const response = await z.request({
      url: `${baseUrl()}/v1/hooks/${encodeURIComponent(id)}`,
      method: 'DELETE',
      skipThrowForStatus: true,
    });
    if (response.status === 404 || response.status === 410) return { id, deleted: false };
    response.throwForStatus();
    return response.data;
  };

  const perform = async (z, bundle) => {
    const secret = bundle.subscribeData && bundle.subscribeData.secret;
    const verdict = verifyDelivery(bundle.rawRequest, secret);
    if (!verdict.ok) {
      z.console.log(`Hookbridge: ignored a request to the hook URL (${verdict.reason})`);
      return [];
    }
    return [withIsoTimestamp(bundle.cleanedRequest)];
  };

  const performList = async (z, bundle) => {
    const params = { limit: 3 };
    if (eventType !== '*') params.type = eventType;
    const response = await z.request({ url: `${baseUrl()}/v1/events`, params });
    const filter = filterFrom(filterFields, bundle.inputData);
    return response.data
      .filter((event) => Object.entries(filter || {}).every(([field, values]) => values.includes(event[field])))
      .map(withIsoTimestamp);
  };

  return {
    key,
    noun,
    display: { label, description },
    operation: {
      type: 'hook',
      inputFields: filterFields,
      performSubscribe,
      performUnsubscribe,
      perform,
      performList,
      sample,
      outputFields,
    },
  };
};

module.exports = { makeHookTrigger, filterFrom };
