// Verifies that a request Zapier received on a hook URL is a delivery from
// Hookbridge: the Standard Webhooks signature (`webhook-id`,
// `webhook-timestamp`, `webhook-signature`) over the exact body, keyed with
// the secret the subscription returned. The hook URL alone cannot tell a
// forged POST from ours.
'use strict';

const crypto = require('crypto');

// Deliveries signed longer ago than this are refused (replays).
const TOLERANCE_SECONDS = 60 * 60;

// Zapier hands hook headers as `Http-Webhook-Signature`; plain names work too.
const normalizeHeaders = (headers) =>
  Object.fromEntries(
    Object.entries(headers || {}).map(([name, value]) => [
      name.toLowerCase().replace(/^http-/, ''),
      Array.isArray(value) ? value.join(' ') : String(value),
    ])
  );

// The signing key: base64 after `whsec_` for generated secrets, else the text.
const keyOf = (secret) =>
  secret.startsWith('whsec_')
    ? Buffer.from(secret.slice('whsec_'.length), 'base64')
    : Buffer.from(secret, 'utf8');

const sameBytes = (a, b) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
};

/**
 * Check a raw request against `secret`. Returns `{ ok: true }` or
 * `{ ok: false, reason }`.
 */
const verifyDelivery = (rawRequest, secret, nowSeconds = Math.floor(Date.now() / 1000)) => {
  if (!secret) return { ok: false, reason: 'the subscription has no signing secret' };
  const headers = normalizeHeaders(rawRequest && rawRequest.headers);
  const body = rawRequest && rawRequest.content;
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof body !== 'string' || !id || !timestamp || !signatures) {
    return { ok: false, reason: 'signature headers or body missing' };
  }
  const sentAt = Number(timestamp);
  if (!Number.isInteger(sentAt) || Math.abs(nowSeconds - sentAt) > TOLERANCE_SECONDS) {
    return { ok: false, reason: 'timestamp outside the tolerance' };
  }
  const expected = `v1,${crypto
    .createHmac('sha256', keyOf(secret))
    .update(`${id}.${timestamp}.${body}`)
    .digest('base64')}`;
  const matches = signatures.split(' ').some((candidate) => sameBytes(candidate, expected));
  return matches ? { ok: true } : { ok: false, reason: 'signature mismatch' };
};

module.exports = { verifyDelivery, normalizeHeaders, TOLERANCE_SECONDS };
