// The app's definition: Zapier's own schema validation, drift from the
// catalog, and the authentication test against the live service.
'use strict';

const zapier = require('zapier-platform-core');
const { execFileSync } = require('child_process');
const path = require('path');

const { startHookbridge, admin } = require('../../tools/e2e/service');

let service;
let App;

beforeAll(async () => {
  service = await startHookbridge();
  process.env.HOOKBRIDGE_URL = service.url;
  App = require('../index');
});

afterAll(() => service.stop());

test('the app passes Zapier schema validation', async () => {
  const result = await zapier.createAppHandler(App)({ command: 'validate' });
  expect(result.results).toEqual([]);
  const broken = { ...App, triggers: { ...App.triggers, 'not a key': App.triggers.signup } };
  const refused = await zapier.createAppHandler(broken)({ command: 'validate' });
  expect(refused.results.length).toBeGreaterThan(0);
});

test('one instant trigger per catalog event type, plus New Event (Any Type)', async () => {
  const types = await (await fetch(`${service.url}/v1/event-types`)).json();
  const expected = types.map((t) => t.type.replace(/[^A-Za-z0-9]+/g, '_')).concat('any_event').sort();
  expect(Object.keys(App.triggers).sort()).toEqual(expected);
  for (const trigger of Object.values(App.triggers)) {
    expect(trigger.operation.type).toBe('hook');
  }
  const generation = App.triggers.generation_complete.operation;
  expect(generation.inputFields.map((f) => [f.key, f.choices.map((c) => c.value)])).toEqual([['type', ['image', 'video']]]);
  expect(App.triggers.subscription.operation.inputFields.map((f) => f.key)).toEqual(['tier']);
  const zipKeys = App.triggers.zip_completed.operation.outputFields.map((f) => f.key);
  expect(zipKeys).toContain('object__bucket__name');
});

test('generated/catalog.json matches schemas/', () => {
  const script = path.join(__dirname, '..', 'scripts', 'generate.js');
  expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
});

test('authentication tests the key against /v1/me and labels the connection', async () => {
  const account = await admin(service).newAccount('Acme Studio');
  const appTester = zapier.createAppTester(App);
  const bundle = { authData: { apiKey: account.key } };
  const me = await appTester(App.authentication.test, bundle);
  expect(me.id).toBe(account.id);
  const label = await appTester(App.authentication.connectionLabel, { ...bundle, inputData: me });
  expect(label).toBe('Acme Studio');
  await expect(appTester(App.authentication.test, { authData: { apiKey: 'hb_wrong' } })).rejects.toThrow(
    /API key is not valid/
  );
});
