#!/usr/bin/env node
// Generates generated/catalog.json, the per-event-type trigger data of the
// Zapier app, from the repository's JSON Schemas (../schemas/*.json).
// `node scripts/generate.js --check` fails when the committed file drifts.
'use strict';

const fs = require('fs');
const path = require('path');

const SCHEMAS = path.join(__dirname, '..', '..', 'schemas');
const OUTPUT = path.join(__dirname, '..', 'generated', 'catalog.json');
// The timestamp the service's example samples carry (GET /v1/events).
const SAMPLE_TIMESTAMP = 1710000000;

const titleCase = (text) => text.replace(/\b[a-z]/g, (c) => c.toUpperCase());
const humanize = (name) => titleCase(name.replace(/[_.]+/g, ' '));
const triggerKey = (eventType) => eventType.replace(/[^A-Za-z0-9]+/g, '_');

const ZAPIER_TYPES = { string: 'string', integer: 'integer', number: 'number', boolean: 'boolean' };

const jsonType = (schema) =>
  Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;

// Zapier flattens nested objects into `parent__child` keys.
const outputFieldsOf = (schema, keyPrefix = '', labelPrefix = '') =>
  Object.entries(schema.properties || {}).flatMap(([name, property]) => {
    const key = `${keyPrefix}${name}`;
    const label = `${labelPrefix}${property.title || humanize(name)}`;
    if (jsonType(property) === 'object' && property.properties) {
      return outputFieldsOf(property, `${key}__`, `${label} `);
    }
    const field = { key, label };
    const type = ZAPIER_TYPES[jsonType(property)];
    if (type) field.type = type;
    return [field];
  });

const envelopeFields = [
  { key: 'id', label: 'Event ID', type: 'string' },
  { key: 'event', label: 'Event Type', type: 'string' },
  { key: 'timestamp', label: 'Timestamp (Unix Seconds)', type: 'integer' },
];

// An optional multi-select per top-level enum field; its values become the
// subscription's filter, so a Zap can trigger on videos only.
const filterFieldsOf = (schema) =>
  Object.entries(schema.properties || {})
    .filter(([, property]) => Array.isArray(property.enum))
    .map(([name, property]) => ({
      key: name,
      label: `Only When ${property.title || humanize(name)} Is`,
      helpText: `Trigger only for these values of \`${name}\`. Leave empty to trigger for all.`,
      required: false,
      list: true,
      choices: property.enum.map((value) => ({ value, label: String(value), sample: String(value) })),
    }));

// A sample exactly as GET /v1/events returns an example: the flat format.
const sampleOf = (eventType, example) => ({
  ...example,
  id: `evt_example_${eventType}_1`,
  event: eventType,
  timestamp: SAMPLE_TIMESTAMP,
});

const build = () => {
  const files = fs.readdirSync(SCHEMAS).filter((f) => f.endsWith('.json')).sort();
  const eventTypes = files.map((file) => {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS, file), 'utf8'));
    const eventType = schema['x-event-type'];
    if (!eventType) throw new Error(`${file} has no x-event-type`);
    const title = titleCase(schema.title || humanize(eventType));
    return {
      eventType,
      key: triggerKey(eventType),
      noun: title,
      label: title,
      description: `Triggers instantly when ${schema.description.charAt(0).toLowerCase()}${schema.description.slice(1)}`,
      filterFields: filterFieldsOf(schema),
      outputFields: [...envelopeFields, ...outputFieldsOf(schema)],
      sample: sampleOf(eventType, (schema.examples || [{}])[0]),
    };
  });
  return { generatedFrom: 'schemas/*.json by scripts/generate.js; do not edit', eventTypes };
};

const render = () => `${JSON.stringify(build(), null, 2)}\n`;

if (require.main === module) {
  const expected = render();
  if (process.argv.includes('--check')) {
    const actual = fs.existsSync(OUTPUT) ? fs.readFileSync(OUTPUT, 'utf8') : '';
    if (actual !== expected) {
      console.error('zapier-app/generated/catalog.json drifted from schemas/: run `npm run generate`');
      process.exit(1);
    }
  } else {
    fs.writeFileSync(OUTPUT, expected);
    console.log(`wrote ${path.relative(process.cwd(), OUTPUT)}`);
  }
}

module.exports = { build, render, OUTPUT };
