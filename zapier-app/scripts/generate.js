#!/usr/bin/env node
// Generates generated/catalog.json, the per-event-type trigger data of the
// Zapier app, from the repository's JSON Schemas (../schemas/*.json, read
// through ../tools/catalog.js).
// `node scripts/generate.js --check` fails when the committed file drifts.
'use strict';

const fs = require('fs');
const path = require('path');

const catalog = require('../../tools/catalog');
const { jsonType, labelOf } = catalog;

const OUTPUT = path.join(__dirname, '..', 'generated', 'catalog.json');

const triggerKey = (eventType) => eventType.replace(/[^A-Za-z0-9]+/g, '_');

const ZAPIER_TYPES = { string: 'string', integer: 'integer', number: 'number', boolean: 'boolean' };

// Zapier flattens nested objects into `parent__child` keys.
const outputFieldsOf = (schema, keyPrefix = '', labelPrefix = '') =>
  Object.entries(schema.properties || {}).flatMap(([name, property]) => {
    const key = `${keyPrefix}${name}`;
    const label = `${labelPrefix}${labelOf(name, property)}`;
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
  catalog.enumFields(schema).map(({ name, label, values }) => ({
    key: name,
    label: `Only When ${label} Is`,
    helpText: `Trigger only for these values of \`${name}\`. Leave empty to trigger for all.`,
    required: false,
    list: true,
    choices: values.map((value) => ({ value, label: String(value), sample: String(value) })),
  }));

// `schemasDir`: see tools/catalog.js readSchemas (default: ../schemas).
const build = (schemasDir) => {
  const eventTypes = catalog.readSchemas(schemasDir).map((schema) => {
    const eventType = schema['x-event-type'];
    const title = catalog.titleCase(schema.title || eventType);
    return {
      eventType,
      key: triggerKey(eventType),
      noun: title,
      label: title,
      description: catalog.sentenceAfter('Triggers instantly when', schema.description),
      filterFields: filterFieldsOf(schema),
      outputFields: [...envelopeFields, ...outputFieldsOf(schema)],
      sample: catalog.flatSample(eventType, schema),
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
