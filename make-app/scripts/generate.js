#!/usr/bin/env node
// Generates the per-event-type parts of the Make app from the repository's
// JSON Schemas (../schemas/*.json, read through ../tools/catalog.js): for each event type (and "any event") a
// dedicated, attached webhook and a Watch instant trigger, plus
// makecomapp.json and general/groups.json. The connection and
// general/base.iml.json are written by hand. Labels follow Make's app review
// rules (test/style.test.js checks every one): sentence case, "Watch
// signups" modules with plural nouns, dates as ISO 8601.
// `node scripts/generate.js --check` fails when a committed file drifts.
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');

const catalog = require('../../tools/catalog');
const { jsonType, labelOf, capitalize, sentenceCase, inSentence } = catalog;
const camel = (text) =>
  catalog.words(text).map((w, i) => (i ? capitalize(w) : w.toLowerCase())).join('');

// A Make interface item for one JSON Schema property.
const interfaceItem = (name, schema) => {
  const item = { name, label: labelOf(name, schema) };
  const type = jsonType(schema);
  if (type === 'object') {
    item.type = 'collection';
    if (schema.properties) {
      item.spec = Object.entries(schema.properties).map(([key, child]) => interfaceItem(key, child));
    }
  } else if (type === 'integer') {
    item.type = schema.minimum >= 0 ? 'uinteger' : 'integer';
  } else if (type === 'number') {
    item.type = 'number';
  } else if (type === 'boolean') {
    item.type = 'boolean';
  } else if (schema.format === 'uri') {
    item.type = 'url';
  } else if (schema.format === 'email') {
    item.type = 'email';
  } else {
    item.type = 'text';
  }
  return item;
};

// What every flat delivery carries besides the event's data, plus the ISO
// 8601 date the webhook computes from `timestamp` (Make shows a `date` in
// the user's time zone and maps it into date fields as it is).
const ENVELOPE = [
  { name: 'id', label: 'Event ID', type: 'text' },
  { name: 'event', label: 'Event type', type: 'text' },
  { name: 'timestamp', label: 'Timestamp (Unix seconds)', type: 'uinteger' },
  {
    name: catalog.ISO_TIMESTAMP_KEY,
    label: catalog.ISO_TIMESTAMP_LABEL,
    type: 'date',
    help: catalog.ISO_TIMESTAMP_HELP,
  },
];

// Optional multi-selects for top-level enum fields; their values become the
// subscription's filter.
const filterParams = (schema) =>
  catalog.enumFields(schema).map(({ name, label, values }) => ({
    name,
    type: 'select',
    label: sentenceCase(`Only when ${inSentence(label)} is`),
    help: `Receive only events whose \`${name}\` is one of these. Leave empty to receive all.`,
    multiple: true,
    options: values.map((value) => ({ label: catalog.choiceLabel(value), value })),
  }));

const attach = (eventType, params) => {
  const body = { target_url: '{{webhook.url}}', event: eventType, source: 'make' };
  if (params.length) {
    body.filter = Object.fromEntries(params.map((p) => [p.name, `{{parameters.${p.name}}}`]));
  }
  return {
    url: '/v1/hooks',
    method: 'POST',
    body,
    response: { data: { subscriptionId: '{{body.id}}' } },
  };
};

const DETACH = { url: '/v1/hooks/{{webhook.subscriptionId}}', method: 'DELETE' };

// Incoming deliveries: answer 200 at once and pass the flat body on as
// output (the spread keeps every field, known or not), adding the unix
// `timestamp` parsed as a date: Make outputs dates as ISO 8601.
const WEBHOOK_COMMUNICATION = {
  respond: { type: 'json', status: 200, body: { received: true } },
  output: {
    '{{...}}': '{{body}}',
    [catalog.ISO_TIMESTAMP_KEY]: "{{parseDate(body.timestamp, 'X')}}",
  },
};

// "Watch [new|updated|...] <items>" and the matching webhook label, in
// sentence case with a plural noun: "Watch signups", "Watch completed
// generations".
const wordingOf = (schema) => {
  const { noun, state } = catalog.eventNaming(schema);
  const things = [state, catalog.pluralize(noun)].filter(Boolean).join(' ');
  return { module: sentenceCase(`Watch ${things}`), webhook: sentenceCase(things) };
};

// The webhook and module of one event type (`*`: any event). The module's
// sample is the first example of `sampleSchema`'s type, as delivered.
const componentsOf = (schema, eventType, sampleSchema = schema) => {
  const id = eventType === '*' ? 'anyEvent' : camel(eventType);
  const wording = eventType === '*' ? { module: 'Watch all events', webhook: 'All events' } : wordingOf(schema);
  const params = eventType === '*' ? [] : filterParams(schema);
  return {
    id,
    module: `watch${capitalize(id)}`,
    label: wording.module,
    title: wording.webhook,
    description:
      eventType === '*'
        ? 'Triggers when any event is published, whatever its type.'
        : catalog.sentenceAfter(
            'Triggers when',
            schema.description,
            `a new ${inSentence(catalog.eventNaming(schema).noun)} event arrives.`
          ),
    files: {
      webhook: {
        communication: WEBHOOK_COMMUNICATION,
        params,
        attach: attach(eventType, params),
        detach: DETACH,
      },
      module: {
        staticParams: [],
        interface: [
          ...ENVELOPE,
          ...Object.entries(schema.properties || {}).map(([name, p]) => interfaceItem(name, p)),
        ],
        samples: catalog.flatSample(sampleSchema['x-event-type'], sampleSchema),
      },
    },
  };
};

const FILE_SUFFIX = {
  communication: 'communication',
  params: 'params',
  attach: 'attach',
  detach: 'detach',
  staticParams: 'static-params',
  interface: 'interface',
  samples: 'samples',
};

// Every generated file: relative path -> JSON value; plus the manifest.
// `schemasDir`: see tools/catalog.js readSchemas (default: ../schemas).
const build = (schemasDir) => {
  const schemas = catalog.readSchemas(schemasDir);
  const components = [
    ...schemas.map((schema) => componentsOf(schema, schema['x-event-type'])),
    componentsOf({}, '*', schemas[0]),
  ];
  const files = {};
  const manifest = {
    fileVersion: 1,
    generalCodeFiles: {
      base: 'general/base.iml.json',
      common: null,
      groups: 'general/groups.json',
      readme: 'README.md',
    },
    components: {
      connection: {
        hookbridge: {
          label: 'Hookbridge',
          connectionType: 'basic',
          codeFiles: {
            communication: 'connections/hookbridge/hookbridge.communication.iml.json',
            params: 'connections/hookbridge/hookbridge.params.iml.json',
          },
        },
      },
      webhook: {},
      module: {},
      rpc: {},
      function: {},
      endpoint: {},
    },
    origins: [],
  };
  const codeFiles = (folder, name, parts) =>
    Object.fromEntries(
      Object.entries(parts).map(([kind, content]) => {
        const file = `${folder}/${name}/${name}.${FILE_SUFFIX[kind]}.iml.json`;
        files[file] = content;
        return [kind, file];
      })
    );
  for (const c of components) {
    manifest.components.webhook[c.id] = {
      label: c.title,
      webhookType: 'web',
      connection: 'hookbridge',
      codeFiles: codeFiles('webhooks', c.id, c.files.webhook),
    };
    manifest.components.module[c.module] = {
      label: c.label,
      description: c.description,
      moduleType: 'instant_trigger',
      connection: 'hookbridge',
      webhook: c.id,
      codeFiles: codeFiles('modules', c.module, c.files.module),
    };
  }
  files['general/groups.json'] = [{ label: 'Events', modules: components.map((c) => c.module) }];
  files['makecomapp.json'] = manifest;
  return files;
};

const render = (value) => `${JSON.stringify(value, null, 4)}\n`;

if (require.main === module) {
  const check = process.argv.includes('--check');
  const drifted = [];
  for (const [file, value] of Object.entries(build())) {
    const target = path.join(ROOT, file);
    const expected = render(value);
    if (check) {
      if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== expected) drifted.push(file);
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, expected);
    }
  }
  if (drifted.length) {
    console.error(`make-app drifted from schemas/ (run \`npm run generate\`): ${drifted.join(', ')}`);
    process.exit(1);
  }
  if (!check) console.log('make-app: generated files written');
}

module.exports = { build, render, wordingOf };
