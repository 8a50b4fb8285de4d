// Reading the event catalog's JSON Schemas (schemas/*.json) for the no-code
// app generators (zapier-app/ and make-app/): the schemas themselves, labels,
// JSON types, enum fields and the flat sample of each type, and the wording
// both stores ask for (Zapier: Title Case labels, "New Signup" triggers;
// Make: sentence case labels, "Watch signups" modules).
'use strict';

const fs = require('fs');
const path = require('path');

const SCHEMAS = path.join(__dirname, '..', 'schemas');
// The timestamp the service's example samples carry (GET /v1/events).
const SAMPLE_TIMESTAMP = 1710000000;

// The field both apps add next to the delivery's unix `timestamp`: the same
// instant as an ISO 8601 date-time in UTC (e.g. 2024-03-09T16:00:00.000Z),
// computed in the app (Zapier: perform/performList; Make: the webhook's
// output), never by the service.
const ISO_TIMESTAMP_KEY = 'timestamp_iso';
const ISO_TIMESTAMP_LABEL = 'Timestamp (ISO 8601)';
const ISO_TIMESTAMP_HELP =
  'When the event was published, as an ISO 8601 date and time in UTC (the same instant as `timestamp`).';

/** `1710000000` -> `"2024-03-09T16:00:00.000Z"`; undefined for anything but a finite number of seconds. */
const isoFromUnix = (seconds) => {
  const value = typeof seconds === 'string' && seconds.trim() !== '' ? Number(seconds) : seconds;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const date = new Date(value * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
};

const words = (text) => text.split(/[^A-Za-z0-9]+/).filter(Boolean);
const capitalize = (word) => word.charAt(0).toUpperCase() + word.slice(1);

// Words written in capitals wherever they appear ("Invoice ID", "Output URL").
const ACRONYMS = new Set([
  'id', 'ids', 'url', 'urls', 'uri', 'api', 'ip', 'iso', 'utc', 'json', 'xml', 'html', 'http', 'https',
  'sku', 'uuid', 'csv', 'pdf', 'sms', 'vat', 'cpu', 'gpu', 'ai', 'sdk', 'mime', 'dns', 'ssl', 'tls', 'oauth',
]);
// Names that keep their capital in sentence case ("Timestamp (Unix seconds)").
const PROPER_NOUNS = new Set([
  'hookbridge', 'zapier', 'make', 'stripe', 'unix', 'zsky', 'zipkit', 'paypal', 'shopify', 'slack', 'github',
  'google', 'amazon', 'aws', 'cloudflare',
]);
// Words Title Case leaves in lower case unless they start or end the label.
const MINOR_WORDS = new Set([
  'a', 'an', 'the', 'and', 'but', 'or', 'nor', 'for', 'so', 'yet', 'as', 'at', 'by', 'in', 'of', 'off',
  'on', 'per', 'to', 'up', 'via', 'vs', 'from', 'into', 'with', 'than',
]);

const letters = (token) => token.replace(/[^A-Za-z0-9]/g, '');
// A token that must keep its own capitals: an acronym ("ID", "S3", "ISO"),
// a number, or a mixed-case name ("ETag", "iOS").
const keepsCase = (token) => {
  const core = letters(token);
  if (!core) return true;
  if (ACRONYMS.has(core.toLowerCase())) return false; // written by ACRONYMS
  if (/\d/.test(core)) return core === core.toUpperCase();
  if (core.length > 1 && core === core.toUpperCase()) return true;
  return /[a-z][A-Z]/.test(core);
};
// Applies `change` to the first letter or digit of a token: "(bytes)" -> "(Bytes)".
const atFirstLetter = (token, change) => token.replace(/[A-Za-z0-9]/, change);
const acronymOf = (token) => {
  const core = letters(token).toLowerCase();
  return ACRONYMS.has(core) ? token.replace(/[A-Za-z0-9]+/, (w) => w.toUpperCase()) : undefined;
};
// Digits with letters ("s3", "r2") read as codes: in capitals.
const codeOf = (token) => (/^[A-Za-z]+\d[A-Za-z0-9]*$/.test(letters(token)) ? token.toUpperCase() : undefined);

/**
 * A key or snake/kebab/camel name as a sentence-case label:
 * `referral_code` -> "Referral code", `invoiceId` -> "Invoice ID".
 */
const humanize = (name) => {
  const parts = String(name)
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean);
  return sentenceCase(parts.join(' '));
};

/**
 * Title Case as Zapier writes labels: every word capitalised except short
 * articles, conjunctions and prepositions inside the label; acronyms in
 * capitals; punctuation kept. "Size (bytes)" -> "Size (Bytes)".
 */
const titleCase = (text) => {
  const tokens = String(text).trim().split(/\s+/).filter(Boolean);
  return tokens
    .map((token, i) => {
      const acronym = acronymOf(token) || codeOf(token);
      if (acronym) return acronym;
      if (keepsCase(token)) return token;
      const lower = token.toLowerCase();
      const inside = i > 0 && i < tokens.length - 1;
      if (inside && MINOR_WORDS.has(letters(lower)) && !/^\(/.test(token)) return lower;
      // Hyphenated words capitalise each part ("Signed-Up").
      return lower.split('-').map((part) => atFirstLetter(part, (c) => c.toUpperCase())).join('-');
    })
    .join(' ');
};

/**
 * Sentence case as Make writes labels: only the first word capitalised,
 * acronyms and proper names kept. "Stripe Subscription ID" ->
 * "Stripe subscription ID".
 */
const sentenceCase = (text) => {
  const tokens = String(text).trim().split(/\s+/).filter(Boolean);
  return tokens
    .map((token, i) => {
      const acronym = acronymOf(token) || codeOf(token);
      if (acronym) return acronym;
      if (keepsCase(token)) return token;
      const lower = token.toLowerCase();
      if (i === 0 || PROPER_NOUNS.has(letters(lower))) return atFirstLetter(lower, (c) => c.toUpperCase());
      return lower;
    })
    .join(' ');
};

/** Sentence-case words to go inside a sentence: "Type" -> "type", "ID" stays. */
const inSentence = (text) => {
  const [first = '', ...rest] = sentenceCase(text).split(' ');
  const keep = keepsCase(first) || acronymOf(first) || codeOf(first) || PROPER_NOUNS.has(letters(first).toLowerCase());
  return [keep ? first : first.toLowerCase(), ...rest].join(' ').trim();
};

/** "zip" -> "zips", "status" -> "statuses", "entry" -> "entries" (the last word only). */
const pluralize = (phrase) =>
  phrase.replace(/([A-Za-z0-9]+)$/, (word) => {
    const lower = word.toLowerCase();
    const upper = word === word.toUpperCase() && /[A-Z]/.test(word);
    if (upper) return `${word}s`;
    if (/(s|x|z|ch|sh)$/.test(lower)) return `${word}es`;
    if (/[^aeiou]y$/.test(lower)) return `${word.slice(0, -1)}ies`;
    return `${word}s`;
  });

/** Removes a word repeated next to itself ("Zip Zip ID" -> "Zip ID"), ignoring case. */
const withoutRepeats = (text) =>
  String(text)
    .split(/\s+/)
    .filter(Boolean)
    .filter((word, i, all) => i === 0 || letters(word).toLowerCase() !== letters(all[i - 1]).toLowerCase() || !letters(word))
    .join(' ');

/**
 * A nested field's label: its parents' labels and its own, without the
 * words the child already repeats ("Error" + "Error code" -> "Error code",
 * "Zip Bucket" + "Bucket name" -> "Zip Bucket name").
 */
const joinLabels = (parent, child) => {
  const left = String(parent).split(/\s+/).filter(Boolean);
  const right = String(child).split(/\s+/).filter(Boolean);
  const same = (a, b) => letters(a).toLowerCase() === letters(b).toLowerCase();
  let overlap = 0;
  for (let n = Math.min(left.length, right.length); n > 0; n -= 1) {
    if (left.slice(-n).every((word, i) => same(word, right[i]))) {
      overlap = n;
      break;
    }
  }
  return withoutRepeats([...left.slice(0, left.length - overlap), ...right].join(' '));
};

/**
 * Every event type's schema in `dir`, sorted by file name. The default is the
 * repository's `schemas/` (the built-in types); `HOOKBRIDGE_SCHEMAS` or the
 * argument points at a folder `hookbridge schemas export --from URL` wrote,
 * which holds a deployment's registered types too.
 */
const readSchemas = (dir = process.env.HOOKBRIDGE_SCHEMAS || SCHEMAS) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const schema = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
      if (!schema['x-event-type']) throw new Error(`${path.join(dir, file)} has no x-event-type`);
      return schema;
    });

/** The JSON type of a property, ignoring `null` in a type list. */
const jsonType = (schema) =>
  Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;

/** A property's human label (sentence case): its title, else its name humanized. */
const labelOf = (name, property) => sentenceCase(withoutRepeats(property.title || humanize(name)));

/** A value of an enum as people read it: "image" -> "Image", "upload_failed" -> "Upload failed", "s3" -> "S3". */
const choiceLabel = (value) => {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value === 'number') return String(value);
  const text = humanize(value);
  return text || String(value);
};

/** Top-level fields with a closed set of values: the ones filters offer. */
const enumFields = (schema) =>
  Object.entries(schema.properties || {})
    .filter(([, property]) => Array.isArray(property.enum))
    .map(([name, property]) => ({ name, label: labelOf(name, property), values: property.enum }));

// The last word of an event type's name that says what happened to its
// noun ("zip.completed", "generation_complete", "invoice.paid"), mapped to
// the adjective a label puts before the noun.
const STATE_WORDS = {
  created: 'new', added: 'new', new: 'new', opened: 'new', registered: 'new',
  updated: 'updated', changed: 'updated', modified: 'updated', edited: 'updated',
  deleted: 'deleted', removed: 'deleted', destroyed: 'deleted',
  complete: 'completed', completed: 'completed', done: 'completed', finished: 'finished',
  paid: 'paid', sent: 'sent', failed: 'failed', succeeded: 'succeeded', canceled: 'canceled',
  cancelled: 'canceled', refunded: 'refunded', expired: 'expired', renewed: 'renewed',
};
const PARTICLES = new Set(['up', 'in', 'out', 'off', 'over', 'back', 'down']);
const NOT_STATES = new Set(['feed', 'seed', 'speed', 'embed', 'bed', 'red', 'shed', 'need', 'breed']);
const isState = (word) => {
  const lower = word.toLowerCase();
  if (STATE_WORDS[lower]) return true;
  return lower.length > 4 && /ed$/.test(lower) && !NOT_STATES.has(lower) && !/eed$/.test(lower);
};

/**
 * What an event type is about, from its title (else its name):
 * `{ noun, state }` in sentence-case words, e.g. "Zip completed" ->
 * `{ noun: 'zip', state: 'completed' }`, "Signup" -> `{ noun: 'signup',
 * state: '' }`. `state` is '' (nothing happened but the thing itself),
 * 'new', 'updated', 'deleted' or another adjective such as 'paid'.
 */
const eventNaming = (schema) => {
  const source = schema.title || schema['x-event-type'] || 'event';
  const parts = inSentence(humanize(source)).split(' ').filter(Boolean);
  let state = '';
  if (parts.length > 2 && PARTICLES.has(parts[parts.length - 1].toLowerCase()) && isState(parts[parts.length - 2])) {
    state = parts.splice(-2).join('-').toLowerCase();
  } else if (parts.length > 1 && isState(parts[parts.length - 1])) {
    const word = parts.pop().toLowerCase();
    state = STATE_WORDS[word] || word;
  }
  return { noun: parts.join(' ') || 'event', state };
};

/**
 * The type's description as a sentence after `prefix`: ("Triggers when",
 * "An image ... finished.") -> "Triggers when an image ... finished."
 * Without a description: "Triggers when a new signup arrives."
 */
const sentenceAfter = (prefix, description, fallback) => {
  const text = String(description || '').trim() || fallback || 'an event arrives.';
  const [first, ...rest] = text.split(' ');
  const keep = keepsCase(first) || acronymOf(first) || PROPER_NOUNS.has(letters(first).toLowerCase());
  const sentence = [keep ? first : atFirstLetter(first, (c) => c.toLowerCase()), ...rest].join(' ');
  return `${prefix} ${sentence}${/[.!?]$/.test(sentence) ? '' : '.'}`;
};

/** A type's first example exactly as GET /v1/events returns it (flat), plus the ISO timestamp the apps add. */
const flatSample = (eventType, schema) => ({
  ...((schema.examples || [])[0] || {}),
  id: `evt_example_${eventType}_1`,
  event: eventType,
  timestamp: SAMPLE_TIMESTAMP,
  [ISO_TIMESTAMP_KEY]: isoFromUnix(SAMPLE_TIMESTAMP),
});

module.exports = {
  readSchemas,
  jsonType,
  labelOf,
  choiceLabel,
  enumFields,
  eventNaming,
  flatSample,
  sentenceAfter,
  titleCase,
  sentenceCase,
  inSentence,
  humanize,
  pluralize,
  joinLabels,
  withoutRepeats,
  words,
  capitalize,
  isoFromUnix,
  ISO_TIMESTAMP_KEY,
  ISO_TIMESTAMP_LABEL,
  ISO_TIMESTAMP_HELP,
  SAMPLE_TIMESTAMP,
  ACRONYMS,
  PROPER_NOUNS,
  MINOR_WORDS,
};
