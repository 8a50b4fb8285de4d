// The delivery's unix `timestamp` also as an ISO 8601 date-time in UTC
// (`timestamp_iso`), computed here so Zaps can map a real date; the Make
// app offers the same field under the same key (tools/catalog.js). Kept
// inside the app (not required from ../tools) so `zapier push` bundles it.
'use strict';

const ISO_TIMESTAMP_KEY = 'timestamp_iso';

/** `1710000000` -> `"2024-03-09T16:00:00.000Z"`; undefined for anything but a finite number of seconds. */
const isoFromUnix = (seconds) => {
  const value = typeof seconds === 'string' && seconds.trim() !== '' ? Number(seconds) : seconds;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const date = new Date(value * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
};

/**
 * The event with `timestamp_iso` added next to its `timestamp`; the
 * service's own fields are never changed, and an event field of that name
 * is kept as it is.
 */
const withIsoTimestamp = (event) => {
  if (!event || typeof event !== 'object' || Array.isArray(event)) return event;
  if (event[ISO_TIMESTAMP_KEY] !== undefined) return event;
  const iso = isoFromUnix(event.timestamp);
  return iso === undefined ? event : { ...event, [ISO_TIMESTAMP_KEY]: iso };
};

module.exports = { ISO_TIMESTAMP_KEY, isoFromUnix, withIsoTimestamp };
