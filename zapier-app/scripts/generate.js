#!/usr/bin/env node
// Generates generated/catalog.json, the per-event-type trigger data of the
// Zapier app, from the repository's JSON Schemas (../schemas/*.json, read
// through ../tools/catalog.js).
// `node scripts/generate.js --check` fails when the committed file drifts.
'use strict';

const fs = require('fs');
const path = require('path');

const catalog = require('../../tools/catalog');
const { jsonType, labelOf, titleCase, joinLabels } = catalog;

const OUTPUT = path.join(__dirname, '..', 'generated', 'catalog.json');

const triggerKey = (eventType) => eventType.replace(/[^A-Za-z0-9]+/g, '_');

const ZAPIER_TYPES = { string: 'string', integer: 'integer', number: 'number', boolean: 'boolean' };

// Zapier flattens nested objects into `parent__child` keys; the label joins
// the parents' labels without a word the child repeats ("Error Code", not
// "Error Error Code"), in Title Case.
const outputFieldsOf = (schema, keyPrefix = '', labelPrefix = '') =>
  Object.entries(schema.properties || {}).flatMap(([name, property]) => {
    const key = `${keyPrefix}${name}`;
    const label = labelPrefix ? joinLabels(labelPrefix, labelOf(name, property)) : labelOf(name, property);
    if (jsonType(property) === 'object' && property.properties) {
      return outputFieldsOf(property, `${key}__`, label);
    }
    const field = { key, label: titleCase(label) };
    const type = ZAPIER_TYPES[jsonType(property)];
    if (type) field.type = type;
    return [field];
  });

// What every flat delivery carries besides the event's data, plus the ISO
// 8601 date-time the app computes from `timestamp` (lib/hook-trigger.js).
const envelopeFields = [
  { key: 'id', label: 'Event ID', type: 'string' },
  { key: 'event', label: 'Event Type', type: 'string' },
  { key: 'timestamp', label: 'Timestamp (Unix Seconds)', type: 'integer' },
  { key: catalog.ISO_TIMESTAMP_KEY, label: titleCase(catalog.ISO_TIMESTAMP_LABEL), type: 'datetime' },
];

// The first field of a key wins: the envelope's, then the event's own.
const uniqueByKey = (fields) => fields.filter((f, i) => fields.findIndex((g) => g.key === f.key) === i);

// An optional multi-select per top-level enum field; its values become the
// subscription's filter, so a Zap can trigger on videos only. Choices read
// as words ("Video"), their values stay the raw ones ("video").
const filterFieldsOf = (schema) =>
  catalog.enumFields(schema).map(({ name, label, values }) => ({
    key: name,
    label: titleCase(`Only When ${label} Is`),
    helpText: `Trigger only for these values of \`${name}\`. Leave empty to trigger for all.`,
    required: false,
    list: true,
    choices: values.map((value) => ({ value, label: titleCase(catalog.choiceLabel(value)), sample: String(value) })),
  }));

// The adjective before the noun in a "New ..." label; created things are
// simply new.
const labelPrefix = (state) => {
  if (!state || state === 'new') return 'New';
  if (state === 'updated' || state === 'deleted') return titleCase(state);
  return `New ${titleCase(state)}`;
};

/**
 * A trigger's noun, label and description as Zapier writes them: the noun
 * in Title Case ("Generation"), the label "New ..." ("New Completed
 * Generation", "New Signup"), the description "Triggers when ...".
 */
const wordingOf = (schema) => {
  const { noun, state } = catalog.eventNaming(schema);
  const nounTitle = titleCase(noun);
  return {
    noun: nounTitle,
    label: `${labelPrefix(state)} ${nounTitle}`,
    description: catalog.sentenceAfter(
      'Triggers when',
      schema.description,
      `a new ${catalog.inSentence(noun)} event arrives.`
    ),
  };
};

// `schemasDir`: see tools/catalog.js readSchemas (default: ../schemas).
const build = (schemasDir) => {
  const eventTypes = catalog.readSchemas(schemasDir).map((schema) => {
    const eventType = schema['x-event-type'];
    return {
      eventType,
      key: triggerKey(eventType),
      ...wordingOf(schema),
      filterFields: filterFieldsOf(schema),
      outputFields: uniqueByKey([...envelopeFields, ...outputFieldsOf(schema)]),
      sample: catalog.flatSample(eventType, schema),
    };
  });
  return {
    generatedFrom: 'schemas/*.json by scripts/generate.js; do not edit',
    envelopeFields,
    eventTypes,
  };
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

module.exports = { build, render, wordingOf, OUTPUT };
