// The dashboard in a real browser: Debian's Chromium driven by Playwright
// against the real hookbridge binary, with deliveries landing on a real local
// receiver. With DASHBOARD_SCREENSHOTS=<dir> it also saves the README's
// screenshots there.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { chromium } = require('playwright-core');
const { admin, startHookbridge, startReceiver } = require('../../tools/e2e/service');
const { chromiumLaunchOptions } = require('../../tools/e2e/chromium');

const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS;
const HEADER_VALUE = 'Bearer dashboard-only-s3cret';
// The admin key that tools/e2e/service.js starts the binary with.
const ADMIN_KEY = 'e2e-test-admin-key-0123456789';

let service;
let receiver;
let browser;
let producer;

before(async () => {
  service = await startHookbridge();
  // Endpoints under /empty answer 200 with an empty body.
  receiver = await startReceiver({ answer: (urlPath) => (urlPath.startsWith('/empty') ? { status: 200, body: '' } : undefined) });
  producer = admin(service);
  browser = await chromium.launch(chromiumLaunchOptions());
});

after(async () => {
  await browser?.close();
  await receiver?.close();
  await service?.stop();
});

const shot = async (page, name) => {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

/** A fresh browser context (empty session storage) on the dashboard's sign-in page, watching for problems. */
const opened = async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Chromium logs every refused call; the 4xx answers a test provokes are its point.
    const refused = /^Failed to load resource: the server responded with a status of 4\d\d/;
    if (message.type() === 'error' && !refused.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(service.url)) problems.push(`request off the service: ${request.url()}`);
  });
  await page.goto(`${service.url}/`);
  return { context, page, problems };
};

/** A fresh browser context on the dashboard, signed in as `account`. */
const signedIn = async (account) => {
  const { context, page, problems } = await opened();
  await page.getByLabel('Account API key').fill(account.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
  return { context, page, problems };
};

/** A fresh browser context on the dashboard, signed in with the admin key. */
const signedInAsAdmin = async () => {
  const { context, page, problems } = await opened();
  await page.getByLabel('Admin (operational webhooks)').check();
  await page.getByLabel('Admin key').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Operational webhooks' }).waitFor();
  return { context, page, problems };
};

/** The operational webhooks API, with the admin key. */
const adminApi = async (method, urlPath, body) => {
  const response = await fetch(`${service.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
};

const api = async (account, method, urlPath, body) => {
  const response = await fetch(`${service.url}${urlPath}`, {
    method,
    headers: { 'x-api-key': account.key, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
};

const createWebhook = async (account, body) => {
  const created = await api(account, 'POST', '/v1/webhooks', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
};

test('a developer signs in, creates a webhook with a header, tests, edits and deletes it', async () => {
  const account = await producer.newAccount('Acme Images');
  const { context, page, problems } = await signedIn(account);
  assert.equal(await page.locator('#account-name').textContent(), 'Acme Images');
  assert.ok(!page.url().includes(account.key), 'the key is never in the URL');
  const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookies: document.cookie }));
  assert.deepEqual(stored, { session: 1, local: 0, cookies: '' });
  await page.getByText('No webhooks yet').waitFor();
  await shot(page, 'webhooks-empty');

  // Create: URL, description, one event type, a filter and an Authorization header.
  await page.getByRole('link', { name: 'New webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'New webhook' }).waitFor();
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/videos`);
  await page.getByLabel('Description (optional)').fill('Videos to the render farm');
  await page.getByLabel('Only the types checked below').check();
  await page.getByLabel('generation_complete').check();
  await page.getByRole('button', { name: 'Add condition' }).click();
  await page.getByLabel('Field', { exact: true }).selectOption('type');
  await page.getByRole('group', { name: 'Values of type' }).getByLabel('video').check();
  await page.getByLabel('Header name').fill('Authorization');
  await page.getByLabel('Header value').fill(HEADER_VALUE);
  await shot(page, 'webhook-new');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();
  const secret = await page.getByTestId('secret').textContent();
  assert.match(secret, /^whsec_/);
  await shot(page, 'webhook-created');

  // What was stored: exactly the form, the header write-only.
  const list = await api(account, 'GET', '/v1/webhooks');
  assert.equal(list.body.data.length, 1);
  const webhook = list.body.data[0];
  assert.equal(webhook.url, `${receiver.url}/videos`);
  assert.equal(webhook.description, 'Videos to the render farm');
  assert.deepEqual(webhook.events, ['generation_complete']);
  assert.deepEqual(webhook.filter, { type: 'video' });
  assert.deepEqual(webhook.header_names, ['authorization']);

  // Listed with URL, description and creation date, and without the header's value.
  await page.getByRole('link', { name: 'Back to all webhooks' }).click();
  const row = page.getByRole('row', { name: /Videos to the render farm/ });
  await row.waitFor();
  assert.match(await row.textContent(), new RegExp(`${receiver.url}/videos`));
  assert.ok(await row.locator('time').getAttribute('datetime'));
  assert.ok(!(await page.content()).includes('dashboard-only-s3cret'), 'the header value is never shown');
  await shot(page, 'webhooks');

  // The webhook's page: send a test event and see its attempt.
  await row.getByRole('link', { name: `${receiver.url}/videos`, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();
  assert.ok(!(await page.content()).includes('dashboard-only-s3cret'));
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.getByText(/The endpoint answered 200 in \d+ ms/).waitFor();
  const [test] = await receiver.waitFor('/videos', 1);
  assert.equal(test.headers.authorization, HEADER_VALUE, 'the custom header reached the endpoint');
  const attemptRows = page.getByRole('table').getByRole('row');
  await page.getByRole('cell', { name: '200', exact: true }).waitFor();
  assert.equal(await attemptRows.count(), 2, 'a header row and one attempt');
  assert.match(await attemptRows.nth(1).textContent(), /generation_complete/);
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'one page of attempts offers no more');

  // A real event that matches the filter, then resend it from its attempt.
  const published = await producer.publish(account.id, 'generation_complete', {
    generation_id: 'gen_1', user_id: 'u_1', type: 'video', credits_used: 3, output_url: 'https://example.com/v.mp4',
  });
  await receiver.waitFor('/videos', 2);
  await page.getByRole('button', { name: 'Refresh' }).click();
  const resend = page.getByRole('button', { name: `Resend event ${published.id}` });
  await resend.waitFor();
  await shot(page, 'webhook-attempts');
  await resend.click();
  await page.getByText(`Event ${published.id} is queued to be sent again.`).waitFor();
  const deliveries = await receiver.waitFor('/videos', 3);
  assert.equal(JSON.parse(deliveries[2].body).generation_id, 'gen_1');

  // Rotate the secret: a new one, shown once.
  await page.getByRole('button', { name: 'Rotate secret' }).click();
  await page.getByRole('heading', { name: 'New signing secret' }).waitFor();
  const rotated = await page.getByTestId('secret').textContent();
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  await page.getByText('Old secret signs until').waitFor();

  // Edit: the form comes back filled in; change URL and description, keep the header.
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Edit webhook' }).waitFor();
  assert.equal(await page.getByLabel('Endpoint URL').inputValue(), `${receiver.url}/videos`);
  assert.ok(await page.getByLabel('generation_complete').isChecked());
  assert.ok(await page.getByRole('group', { name: 'Values of type' }).getByLabel('video').isChecked());
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/renders`);
  await page.getByLabel('Description (optional)').fill('Renders, moved');
  await page.getByRole('group', { name: 'Values of type' }).getByLabel('image').check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();
  await page.getByText('Renders, moved').waitFor();
  const edited = await api(account, 'GET', `/v1/webhooks/${webhook.id}`);
  assert.equal(edited.body.url, `${receiver.url}/renders`);
  assert.deepEqual(edited.body.filter, { type: ['image', 'video'] });
  assert.deepEqual(edited.body.header_names, ['authorization'], 'editing without replacing keeps the header');
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.getByText(/The endpoint answered 200/).waitFor();
  const [moved] = await receiver.waitFor('/renders', 1);
  assert.equal(moved.headers.authorization, HEADER_VALUE);

  // Delete, with the warning that in-flight deliveries may still arrive.
  await page.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this webhook?' });
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /Any in-flight webhooks may still be delivered\./);
  await shot(page, 'webhook-delete');
  await dialog.getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByText('No webhooks yet').waitFor();
  assert.equal((await api(account, 'GET', `/v1/webhooks/${webhook.id}`)).status, 404);

  assert.deepEqual(problems, []);
  await context.close();
});

test('an endpoint that answers with an empty body shows "(empty)", never null', async () => {
  const account = await producer.newAccount('Quiet Endpoint');
  const webhook = await createWebhook(account, { url: `${receiver.url}/empty`, description: 'Answers nothing' });
  const { context, page, problems } = await signedIn(account);
  await page.goto(`${service.url}/#/webhooks/${webhook.id}`);
  await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();
  await page.getByRole('button', { name: 'Send test event' }).click();
  await page.getByText(/The endpoint answered 200 in \d+ ms/).waitFor();
  const [delivery] = await receiver.waitFor('/empty', 1);
  assert.ok(delivery.body.length > 0, 'the test event was delivered');
  const result = page.locator('.test-result');
  await result.getByText('(empty)', { exact: true }).waitFor();
  assert.doesNotMatch(await result.textContent(), /null/);
  assert.equal(await result.locator('pre').count(), 0, 'no empty snippet box');

  // The attempt it recorded says the same.
  const attempt = page.getByRole('table').getByRole('row').nth(1);
  await attempt.getByText('(empty)', { exact: true }).waitFor();
  assert.doesNotMatch(await attempt.textContent(), /null/);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a webhook created after some events replays the ones it missed from its page', async () => {
  const account = await producer.newAccount('Late Subscriber');
  const generation = (type, id) => ({ generation_id: id, user_id: 'u_1', type, credits_used: 1, output_url: 'https://example.com/o' });
  const first = await producer.publish(account.id, 'generation_complete', generation('video', 'gen_a'));
  await producer.publish(account.id, 'generation_complete', generation('image', 'gen_b'));
  const second = await producer.publish(account.id, 'generation_complete', generation('video', 'gen_c'));
  const webhook = await createWebhook(account, {
    url: `${receiver.url}/late`, events: ['generation_complete'], filter: { type: 'video' },
  });
  const { context, page, problems } = await signedIn(account);
  await page.goto(`${service.url}/#/webhooks/${webhook.id}`);
  await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();

  // A window that starts in the future is refused next to its field; nothing is sent.
  await page.getByLabel('From').fill('2999-01-01T00:00:00');
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  await page.getByText('since is in the future').first().waitFor();
  assert.equal(await page.getByLabel('From').getAttribute('aria-invalid'), 'true');
  assert.equal(receiver.at('/late').length, 0);

  // From a day ago (the default) until now, only what it never got: the two videos.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Webhook' }).waitFor();
  await page.getByLabel('What to replay').selectOption('missing');
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  await page.getByText('2 deliveries replayed.').waitFor();
  const delivered = await receiver.waitFor('/late', 2);
  assert.deepEqual(delivered.map((d) => JSON.parse(d.body).id).sort(), [first.id, second.id].sort());

  // Again: nothing is missing any more.
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  await page.getByText('0 deliveries replayed.').waitFor();
  assert.deepEqual(problems, []);
  await context.close();
});

test('bad input is shown next to its field and changes nothing', async () => {
  const account = await producer.newAccount('Careful Co');
  const { context, page, problems } = await signedIn(account);
  await page.getByRole('link', { name: 'New webhook' }).click();
  await page.getByLabel('Endpoint URL').fill('ftp://example.com/hooks');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.textContent(), /\/url/);
  assert.equal(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid'), 'true');

  // What the page can tell before asking: no type checked, a header without a value.
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/careful`);
  await page.getByLabel('Only the types checked below').check();
  await page.getByLabel('Header name').fill('Authorization');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByRole('alert').getByText('Check at least one event type').waitFor();
  await page.getByRole('alert').getByText('Enter a value for Authorization, or remove the header.').waitFor();

  // A filter value the type's schema refuses comes back from the service as a 422.
  await page.getByLabel('generation_complete').check();
  await page.getByRole('button', { name: 'Remove header' }).click();
  await page.getByRole('button', { name: 'Add condition' }).click();
  await page.getByLabel('Field', { exact: true }).selectOption('credits_used');
  await page.getByLabel('Values of credits_used').fill('lots');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByRole('alert').getByText('/filter/credits_used').waitFor();
  assert.equal(await page.getByRole('group', { name: 'Filter (optional)' }).getAttribute('aria-invalid'), 'true');
  await shot(page, 'webhook-errors');

  assert.deepEqual((await api(account, 'GET', '/v1/webhooks')).body.data, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a webhook gets publish ordering and a rate limit, and the limit is removed again', async () => {
  const account = await producer.newAccount('Paced Co');
  const { context, page, problems } = await signedIn(account);
  await page.getByRole('link', { name: 'New webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'New webhook' }).waitFor();
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/paced`);
  assert.equal(await page.getByLabel('Ordering').inputValue(), 'none', 'no ordering by default');
  assert.equal(await page.getByLabel('Rate limit (optional)').inputValue(), '', 'no limit by default');
  await page.getByLabel('Ordering').selectOption('fifo');
  await page.getByLabel('Rate limit (optional)').fill('20');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook created' }).waitFor();
  const [listed] = (await api(account, 'GET', '/v1/webhooks')).body.data;
  const created = await api(account, 'GET', `/v1/webhooks/${listed.id}`);
  assert.equal(created.body.ordering, 'fifo');
  assert.equal(created.body.rate_limit, 20);

  // The webhook's page says both.
  await page.getByRole('link', { name: 'Open the webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook', exact: true }).waitFor();
  const summary = page.locator('dl.summary');
  assert.match(await summary.textContent(), /OrderingIn publish order, one at a time/);
  assert.match(await summary.textContent(), /Rate limit20 a second/);

  // Edit: the form comes back with both; emptying the limit removes it and keeps the order.
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Edit webhook' }).waitFor();
  assert.equal(await page.getByLabel('Ordering').inputValue(), 'fifo');
  assert.equal(await page.getByLabel('Rate limit (optional)').inputValue(), '20');
  await page.getByLabel('Rate limit (optional)').fill('');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('heading', { level: 1, name: 'Webhook', exact: true }).waitFor();
  assert.match(await summary.textContent(), /Rate limitNone/);
  const edited = await api(account, 'GET', `/v1/webhooks/${listed.id}`);
  assert.equal(edited.body.rate_limit, null);
  assert.equal(edited.body.ordering, 'fifo');
  assert.deepEqual(problems, []);
  await context.close();
});

test('an invalid rate limit is shown next to its field and creates nothing', async () => {
  const account = await producer.newAccount('Too Slow Co');
  const { context, page, problems } = await signedIn(account);
  await page.getByRole('link', { name: 'New webhook' }).click();
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/too-slow`);
  const limit = page.getByLabel('Rate limit (optional)');

  // Not a number: the page says so before asking.
  await limit.fill('fast');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  await page.getByRole('alert').getByText('Enter a whole number of deliveries a second').waitFor();
  assert.equal(await limit.getAttribute('aria-invalid'), 'true');

  // Zero: the service refuses it with a 422 pointing at the field. (The
  // page's own alert above points at the field too, so wait for the
  // service's words, not for the pointer.)
  await limit.fill('0');
  await page.getByRole('button', { name: 'Create webhook' }).click();
  const fieldError = page.locator('.field-error');
  await fieldError.filter({ hasText: '1 to 100000 deliveries a second' }).waitFor();
  await page.getByRole('alert').getByText('/rate_limit').waitFor();
  assert.equal(await limit.getAttribute('aria-invalid'), 'true');
  assert.equal(await fieldError.count(), 1);
  assert.match(await fieldError.textContent(), /1 to 100000 deliveries a second/);
  assert.match(await limit.getAttribute('aria-describedby'), new RegExp(await fieldError.getAttribute('id')));

  assert.deepEqual((await api(account, 'GET', '/v1/webhooks')).body.data, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the operator signs in with the admin key, creates, lists and deletes an operational webhook', async () => {
  const { context, page, problems } = await signedInAsAdmin();
  assert.equal(await page.locator('#account-name').textContent(), 'Operator (admin key)');
  const stored = await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookies: document.cookie }));
  assert.deepEqual(stored, { session: 1, local: 0, cookies: '' });
  assert.ok(!page.url().includes(ADMIN_KEY), 'the key is never in the URL');
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.deepEqual(await nav.getByRole('link').allTextContents(), ['Operational webhooks'], 'only the operational webhooks');
  await page.getByText('No operational webhooks yet').waitFor();

  // Create one for two of the three events, with a secret of the service's making.
  await page.getByRole('link', { name: 'New operational webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'New operational webhook' }).waitFor();
  const events = page.getByRole('group', { name: 'Events' });
  assert.match(await events.textContent(), /Auto-disable turned a customer's webhook off\./);
  await page.getByLabel('Endpoint URL').fill(`${receiver.url}/ops`);
  await page.getByLabel('webhook.disabled').check();
  await page.getByLabel('delivery.exhausted').check();
  await page.getByRole('button', { name: 'Create operational webhook' }).click();
  await page.getByRole('heading', { level: 1, name: 'Operational webhook created' }).waitFor();
  const secret = await page.getByTestId('secret').textContent();
  assert.match(secret, /^whsec_/);

  // Stored as the form said; the list never carries the secret.
  const list = await adminApi('GET', '/v1/operational-webhooks');
  assert.equal(list.body.data.length, 1);
  const [created] = list.body.data;
  assert.equal(created.url, `${receiver.url}/ops`);
  assert.deepEqual([...created.events].sort(), ['delivery.exhausted', 'webhook.disabled']);
  assert.equal(created.enabled, true);
  assert.equal(created.secret, undefined);

  // Listed with its events, status and creation date.
  await page.getByRole('link', { name: 'Back to operational webhooks' }).click();
  const row = page.getByRole('row', { name: new RegExp(`${receiver.url}/ops`) });
  await row.waitFor();
  const text = await row.textContent();
  assert.match(text, /webhook\.disabled/);
  assert.match(text, /delivery\.exhausted/);
  assert.doesNotMatch(text, /subscription\.removed/);
  assert.match(text, /Enabled/);
  assert.ok(await row.locator('time').getAttribute('datetime'));
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');

  // Delete, after the confirmation; cancelling keeps it.
  await row.getByRole('button', { name: `Delete ${receiver.url}/ops` }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this operational webhook?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await adminApi('GET', '/v1/operational-webhooks')).body.data.length, 1, 'cancel deletes nothing');
  await row.getByRole('button', { name: `Delete ${receiver.url}/ops` }).click();
  await dialog.getByRole('button', { name: 'Delete operational webhook' }).click();
  await row.waitFor({ state: 'detached' });
  await page.getByText('No operational webhooks yet').waitFor();
  assert.deepEqual((await adminApi('GET', '/v1/operational-webhooks')).body.data, []);

  // The account pages are not the admin key's: their routes lead back here.
  await page.goto(`${service.url}/#/webhooks`);
  await page.waitForURL(/#\/operational-webhooks$/);
  await page.getByRole('heading', { level: 1, name: 'Operational webhooks' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a refused operational webhook is shown at its field and creates nothing', async () => {
  // An account's key is not the admin key.
  const account = await producer.newAccount('Not The Operator');
  const { context, page, problems } = await opened();
  await page.getByLabel('Admin (operational webhooks)').check();
  await page.getByLabel('Admin key').fill(account.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').getByText('That key was not accepted.').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  await page.getByLabel('Admin key').fill(ADMIN_KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Operational webhooks' }).waitFor();
  await page.getByRole('link', { name: 'New operational webhook' }).click();
  const url = page.getByLabel('Endpoint URL');

  // A URL the service refuses: its 422 is marked at the field.
  await url.fill('ftp://example.com/ops');
  await page.getByLabel('subscription.removed').check();
  await page.getByRole('button', { name: 'Create operational webhook' }).click();
  await page.getByRole('alert').getByText('/url').waitFor();
  assert.equal(await url.getAttribute('aria-invalid'), 'true');
  const fieldError = page.locator('.field-error');
  assert.equal(await fieldError.count(), 1);
  assert.match(await fieldError.textContent(), /https/);
  assert.match(await url.getAttribute('aria-describedby'), new RegExp(await fieldError.getAttribute('id')));

  // No event ticked: the page says so at the events before asking.
  await url.fill(`${receiver.url}/ops-refused`);
  await page.getByLabel('subscription.removed').uncheck();
  await page.getByRole('button', { name: 'Create operational webhook' }).click();
  await page.getByRole('alert').getByText('Check at least one event.').waitFor();
  assert.equal(await page.getByRole('group', { name: 'Events' }).getAttribute('aria-invalid'), 'true');
  assert.equal(await url.getAttribute('aria-invalid'), null, 'the URL is no longer marked');

  assert.deepEqual((await adminApi('GET', '/v1/operational-webhooks')).body.data, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a wrong key is refused and nothing is stored in the browser', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${service.url}/`);
  await shot(page, 'sign-in');
  await page.getByLabel('Account API key').fill('hb_not_a_key');
  await page.getByLabel('Account API key').press('Enter');
  await page.getByRole('alert').getByText('That key was not accepted.').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.ok(await page.getByRole('heading', { level: 1, name: 'Sign in' }).isVisible());
  await context.close();
});

test('each account sees only its own webhooks, and signing out forgets the key', async () => {
  const owner = await producer.newAccount('Owner');
  const other = await producer.newAccount('Other');
  const created = await createWebhook(owner, { url: `${receiver.url}/owner`, description: 'Owner only' });

  const { context, page } = await signedIn(other);
  await page.getByText('No webhooks yet').waitFor();
  await page.goto(`${service.url}/#/webhooks/${created.id}`);
  await page.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await context.close();
});

test('long lists page with Load more, and a webhook is disabled and enabled again', async () => {
  const account = await producer.newAccount('Many Hooks');
  for (let i = 0; i < 52; i += 1) {
    await createWebhook(account, { url: `${receiver.url}/many-${i}`, description: `Hook number ${i}` });
  }
  const { context, page, problems } = await signedIn(account);
  const rows = page.getByRole('row', { name: /Hook number \d+/ });
  await page.getByRole('button', { name: 'Load more' }).waitFor();
  assert.equal(await rows.count(), 50, 'one page of 50');
  assert.match(await rows.first().textContent(), /Hook number 51/, 'newest first');
  await page.getByRole('button', { name: 'Load more' }).click();
  await page.getByRole('row', { name: /Hook number 0\b/ }).waitFor();
  assert.equal(await rows.count(), 52);
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'nothing more to load');

  // "Delete" next to a webhook in the list, as the ZipKit page describes.
  await page.getByRole('button', { name: `Delete ${receiver.url}/many-51` }).click();
  const dialog = page.getByRole('dialog', { name: 'Delete this webhook?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await rows.count(), 52, 'cancel deletes nothing');
  await page.getByRole('button', { name: `Delete ${receiver.url}/many-51` }).click();
  await dialog.getByRole('button', { name: 'Delete webhook' }).click();
  await page.getByRole('row', { name: /Hook number 51\b/ }).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 51);
  assert.equal((await api(account, 'GET', '/v1/webhooks?limit=250')).body.data.length, 51);

  await page.getByRole('link', { name: `${receiver.url}/many-0`, exact: true }).click();
  await page.getByRole('button', { name: 'Disable' }).click();
  await page.getByRole('button', { name: 'Enable' }).waitFor();
  const summary = page.locator('dl.summary');
  assert.match(await summary.textContent(), /StatusDisabled/);
  const id = (await api(account, 'GET', '/v1/webhooks?limit=250')).body.data.find((w) => w.url.endsWith('/many-0')).id;
  assert.equal((await api(account, 'GET', `/v1/webhooks/${id}`)).body.enabled, false);
  await page.getByRole('button', { name: 'Enable' }).click();
  await page.getByRole('button', { name: 'Disable' }).waitFor();
  assert.equal((await api(account, 'GET', `/v1/webhooks/${id}`)).body.enabled, true);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the catalog shows every type with its fields, schema and example', async () => {
  const account = await producer.newAccount('Reader');
  const { context, page, problems } = await signedIn(account);
  await page.getByRole('link', { name: 'Event catalog' }).click();
  await page.getByRole('heading', { level: 1, name: 'Event catalog' }).waitFor();
  const types = await (await fetch(`${service.url}/v1/event-types`)).json();
  for (const type of types) {
    const section = page.getByRole('region', { name: new RegExp(`^${type.type.replace('.', '\\.')} `) });
    await section.waitFor();
    assert.match(await section.textContent(), new RegExp(type.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const example = JSON.parse(await section.locator('details[open] pre').textContent());
    assert.deepEqual(example, type.examples[0]);
  }
  await shot(page, 'catalog');
  assert.deepEqual(problems, []);
  await context.close();
});

test('every control has a label and the forms work from the keyboard', async () => {
  const account = await producer.newAccount('Keyboard');
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${service.url}/`);
  // Sign in with the keyboard only: the key field is reachable by Tab.
  for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== 'api-key'; i += 1) {
    await page.keyboard.press('Tab');
  }
  await page.keyboard.type(account.key);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'focus moves to the new page');

  await page.goto(`${service.url}/#/webhooks/new`);
  await page.getByRole('heading', { level: 1, name: 'New webhook' }).waitFor();
  await page.getByRole('button', { name: 'Add condition' }).click();
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => !el.closest('[hidden]'))
      .filter((el) => {
        const name = el.getAttribute('aria-label') || (el.labels && [...el.labels].map((l) => l.textContent).join('')) || '';
        return el.tagName === 'BUTTON' ? !(name || el.textContent).trim() : !name.trim();
      })
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, []);
  await context.close();
});
