// Static checks of the Make app: every file against Make's official app
// JSON Schemas (vendor/make-apps-sdk-schemas, MIT), the manifest's
// references, and drift of the generated files from ../schemas.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');

const generator = require('../scripts/generate');
const { manifest } = require('./make-runtime');
const { ajv, schemaFor } = require('./make-schemas');

const ROOT = path.join(__dirname, '..');

const appFiles = () => {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!['node_modules', 'vendor', 'test', 'scripts'].includes(entry.name)) walk(rel);
      } else if (entry.name.endsWith('.json') && !entry.name.startsWith('package')) {
        found.push(rel);
      }
    }
  };
  walk('');
  return found.sort();
};

test('every app file validates against its Make schema', () => {
  const files = appFiles();
  assert.ok(files.length > 30, `${files.length} files`);
  for (const file of files) {
    const schema = schemaFor(file);
    assert.ok(schema, `no Make schema is associated with ${file}`);
    const valid = ajv.validate(schema, JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    assert.ok(valid, `${file} (${schema}): ${ajv.errorsText(ajv.errors)}`);
  }
});

test('the schemas catch an invalid file', () => {
  assert.equal(ajv.validate('api.json', { url: '/v1/hooks', method: 'POST' }), false, 'POST without body');
  assert.equal(ajv.validate('parameters.json', [{ name: 'x', type: 'no-such-type' }]), false);
  assert.equal(ajv.validate('makecomapp.schema.json', { fileVersion: 1 }), false);
});

test('the manifest references exactly the files there are', () => {
  const referenced = new Set(Object.values(manifest.generalCodeFiles).filter(Boolean));
  for (const [kind, components] of Object.entries(manifest.components)) {
    for (const [id, component] of Object.entries(components)) {
      for (const file of Object.values(component.codeFiles).filter(Boolean)) {
        assert.ok(fs.existsSync(path.join(ROOT, file)), `${kind} ${id}: ${file} is missing`);
        referenced.add(file);
      }
      if (component.connection) assert.ok(manifest.components.connection[component.connection], `${id}: connection`);
      if (kind === 'module') {
        assert.equal(component.moduleType, 'instant_trigger');
        assert.ok(manifest.components.webhook[component.webhook], `${id}: webhook ${component.webhook}`);
      }
    }
  }
  const unreferenced = appFiles().filter((f) => f !== 'makecomapp.json' && !referenced.has(f));
  assert.deepEqual(unreferenced, []);
  const groups = JSON.parse(fs.readFileSync(path.join(ROOT, manifest.generalCodeFiles.groups), 'utf8'));
  for (const module of groups.flatMap((g) => g.modules)) {
    assert.ok(manifest.components.module[module], `group names unknown module ${module}`);
  }
});

test('one webhook and Watch module per catalog event type, plus any event', () => {
  const schemas = fs.readdirSync(path.join(ROOT, '..', 'schemas')).filter((f) => f.endsWith('.json'));
  assert.equal(Object.keys(manifest.components.webhook).length, schemas.length + 1);
  assert.equal(Object.keys(manifest.components.module).length, schemas.length + 1);
});

test('the generated files match schemas/', () => {
  for (const [file, value] of Object.entries(generator.build())) {
    const onDisk = fs.readFileSync(path.join(ROOT, file), 'utf8');
    assert.equal(onDisk, generator.render(value), `${file} drifted: run \`npm run generate\` in make-app/`);
  }
});
