// Reading the event catalog's JSON Schemas (schemas/*.json) for the no-code
// app generators (zapier-app/ and make-app/): the schemas themselves, labels,
// JSON types, enum fields and the flat sample of each type.
'use strict';

const fs = require('fs');
const path = require('path');

const SCHEMAS = path.join(__dirname, '..', 'schemas');
// The timestamp the service's example samples carry (GET /v1/events).
const SAMPLE_TIMESTAMP = 1710000000;

const words = (text) => text.split(/[^A-Za-z0-9]+/).filter(Boolean);
const capitalize = (word) => word.charAt(0).toUpperCase() + word.slice(1);
const titleCase = (text) => words(text).map(capitalize).join(' ');

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

/** A property's human label: its title, else its name in Title Case. */
const labelOf = (name, property) => property.title || titleCase(name);

/** Top-level fields with a closed set of values: the ones filters offer. */
const enumFields = (schema) =>
  Object.entries(schema.properties || {})
    .filter(([, property]) => Array.isArray(property.enum))
    .map(([name, property]) => ({ name, label: labelOf(name, property), values: property.enum }));

/** "An image ... finished." -> "Triggers instantly when an image ... finished." */
const sentenceAfter = (prefix, description) =>
  `${prefix} ${description.charAt(0).toLowerCase()}${description.slice(1)}`;

/** A type's first example exactly as GET /v1/events returns it (flat). */
const flatSample = (eventType, schema) => ({
  ...((schema.examples || [])[0] || {}),
  id: `evt_example_${eventType}_1`,
  event: eventType,
  timestamp: SAMPLE_TIMESTAMP,
});

module.exports = {
  readSchemas,
  jsonType,
  labelOf,
  enumFields,
  flatSample,
  sentenceAfter,
  titleCase,
  words,
  capitalize,
};
