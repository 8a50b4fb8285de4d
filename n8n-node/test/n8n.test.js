// The package in a real n8n against the real hookbridge binary: the owner,
// the credential and the workflows made through n8n's REST API as the
// editor makes them; activation subscribes (source n8n), a published event
// runs the workflow with every field, a videos-only filter, a forged, a
// tampered and a stale POST run nothing, deactivation unsubscribes, and a
// restart of n8n keeps exactly one subscription. Ends with a screenshot of
// the node in n8n's editor.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { startHookbridge, startReceiver, admin, INVOICE_PAID } = require('../../tools/e2e/service');
const { createN8n, editorSession, sleep } = require('./n8n-harness');
const { screenshotTrigger } = require('./editor-screenshot');

const NODE_TYPE = 'CUSTOM.hookbridgeTrigger';
// With N8N_SCREENSHOTS=<dir> the editor's screenshot is kept there (the
// README's is docs/screenshots/n8n-trigger.png).
const SCREENSHOTS = process.env.N8N_SCREENSHOTS;

let service;
let receiver;
let producer;
let account;
let n8n;
let editor;
let credential;

test.before(async () => {
	[service, receiver, n8n] = await Promise.all([startHookbridge(), startReceiver(), createN8n()]);
	producer = admin(service);
	account = await producer.newAccount('n8n tests');
	await n8n.start();
	editor = editorSession(n8n.url);
	await editor.setUpOwner();
});

test.after(async () => {
	if (n8n) await n8n.remove();
	if (receiver) await receiver.close();
	if (service) await service.stop();
});

// The account's webhooks as Hookbridge lists them.
const subscriptions = async () => {
	const response = await fetch(`${service.url}/v1/webhooks`, {
		headers: { authorization: `Bearer ${account.key}` },
	});
	return (await response.json()).data;
};

// A type's examples merged into one payload, so every optional field is there.
const fullExample = async (eventType) => {
	const types = await (await fetch(`${service.url}/v1/event-types`)).json();
	return Object.assign({}, ...types.find((t) => t.type === eventType).examples);
};

// The trigger followed by an HTTP Request node that posts each item, as
// JSON, to the local receiver at `receiverPath`.
const workflowOf = (name, parameters, receiverPath) => ({
	name,
	active: false,
	settings: { executionOrder: 'v1' },
	nodes: [
		{
			id: crypto.randomUUID(),
			name: 'Hookbridge Trigger',
			type: NODE_TYPE,
			typeVersion: 1,
			position: [0, 0],
			webhookId: crypto.randomUUID(),
			parameters,
			credentials: { hookbridgeApi: { id: credential.id, name: credential.name } },
		},
		{
			id: crypto.randomUUID(),
			name: 'Hand Over',
			type: 'n8n-nodes-base.httpRequest',
			typeVersion: 4.2,
			position: [260, 0],
			parameters: {
				method: 'POST',
				url: `${receiver.url}${receiverPath}`,
				sendBody: true,
				specifyBody: 'json',
				jsonBody: '={{ JSON.stringify($json) }}',
				options: {},
			},
		},
	],
	connections: {
		'Hookbridge Trigger': { main: [[{ node: 'Hand Over', type: 'main', index: 0 }]] },
	},
});

const createWorkflow = (name, parameters, receiverPath) =>
	editor.call('POST', '/workflows', workflowOf(name, parameters, receiverPath));
const activate = async (workflow) => {
	const current = await editor.call('GET', `/workflows/${workflow.id}`);
	return editor.call('POST', `/workflows/${workflow.id}/activate`, {
		versionId: current.versionId,
	});
};
const deactivate = (workflow) => editor.call('POST', `/workflows/${workflow.id}/deactivate`, {});
const webhookUrl = (workflow) => `${n8n.url}/webhook/${workflow.nodes[0].webhookId}/webhook`;
const executionCount = async (workflow) => {
	const filter = encodeURIComponent(JSON.stringify({ workflowId: workflow.id }));
	return (await editor.call('GET', `/executions?filter=${filter}`)).count;
};
const loadOptions = (methodName, currentNodeParameters) =>
	editor.call('POST', '/dynamic-node-parameters/options', {
		nodeTypeAndVersion: { name: NODE_TYPE, version: 1 },
		path: methodName === 'getEventTypes' ? 'event' : 'filter',
		methodName,
		currentNodeParameters,
		credentials: { hookbridgeApi: { id: credential.id, name: credential.name } },
	});

test('the credential is saved and its test calls GET /v1/me', async () => {
	const data = { apiKey: account.key, url: `${service.url}/` };
	credential = await editor.call('POST', '/credentials', {
		name: 'Hookbridge',
		type: 'hookbridgeApi',
		data,
	});
	const tested = await editor.call('POST', '/credentials/test', {
		credentials: { ...credential, data },
	});
	assert.equal(tested.status, 'OK', tested.message);
	const refused = await editor.call('POST', '/credentials/test', {
		credentials: { ...credential, data: { ...data, apiKey: 'hb_not_a_key' } },
	});
	assert.equal(refused.status, 'Error');
});

test('the event options come from the live catalog, registered types included', async () => {
	await producer.registerEventType(INVOICE_PAID);
	const options = await loadOptions('getEventTypes', { event: '' });
	const values = options.map((o) => o.value);
	assert.equal(values[0], '*');
	for (const type of [
		'generation_complete',
		'signup',
		'subscription',
		'zip.completed',
		'invoice.paid',
	]) {
		assert.ok(values.includes(type), `${type} in ${values}`);
	}
	const filters = await loadOptions('getFilterValues', { event: 'invoice.paid' });
	assert.deepEqual(
		filters.map((o) => [o.name, JSON.parse(o.value)]),
		[
			['Status: Paid', ['status', 'paid']],
			['Status: Refunded', ['status', 'refunded']],
		],
	);
	assert.deepEqual(await loadOptions('getFilterValues', { event: '*' }), []);
});

test('activation subscribes, an event runs the workflow with every field, deactivation unsubscribes', async () => {
	const workflow = await createWorkflow(
		'Every generation',
		{ event: 'generation_complete', filter: [] },
		'/all',
	);
	await activate(workflow);
	const [subscription] = (await subscriptions()).filter((s) => s.url === webhookUrl(workflow));
	assert.ok(subscription, 'activation made a subscription for the webhook URL');
	assert.equal(subscription.source, 'n8n');
	assert.deepEqual(subscription.events, ['generation_complete']);
	assert.equal(subscription.filter, null);

	const data = await fullExample('generation_complete');
	const published = await producer.publish(account.id, 'generation_complete', data);
	const [delivery] = await receiver.waitFor('/all', 1, 30_000);
	assert.deepEqual(JSON.parse(delivery.body), {
		...data,
		id: published.id,
		event: 'generation_complete',
		timestamp: JSON.parse(delivery.body).timestamp,
	});
	assert.ok(Number.isInteger(JSON.parse(delivery.body).timestamp));

	await deactivate(workflow);
	assert.deepEqual(
		(await subscriptions()).filter((s) => s.url === webhookUrl(workflow)),
		[],
	);
});

test('a filter for videos lets only videos through', async () => {
	const videosOnly = [JSON.stringify(['type', 'video'])];
	const workflow = await createWorkflow(
		'Videos',
		{ event: 'generation_complete', filter: videosOnly },
		'/videos',
	);
	await activate(workflow);
	const [subscription] = (await subscriptions()).filter((s) => s.url === webhookUrl(workflow));
	assert.deepEqual(subscription.filter, { type: 'video' });
	const example = await fullExample('generation_complete');
	await producer.publish(account.id, 'generation_complete', { ...example, type: 'image' });
	const video = await producer.publish(account.id, 'generation_complete', {
		...example,
		type: 'video',
	});
	const [delivery] = await receiver.waitFor('/videos', 1, 30_000);
	assert.equal(JSON.parse(delivery.body).id, video.id);
	await sleep(1500);
	assert.equal(receiver.at('/videos').length, 1, 'the image was filtered out');
	await deactivate(workflow);
});

test('forged, tampered and stale requests get 401 and run nothing', async () => {
	const workflow = await createWorkflow('Signups', { event: 'signup', filter: [] }, '/signups');
	await activate(workflow);
	const stored = await editor.call('GET', `/workflows/${workflow.id}`);
	const secret =
		stored.staticData?.['node:Hookbridge Trigger']?.subscriptions?.[webhookUrl(workflow)]?.secret;
	assert.match(secret, /^whsec_/, 'the secret is kept in the workflow static data');
	const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
	const body = JSON.stringify({
		id: 'evt_forged',
		event: 'signup',
		timestamp: 1,
		email: 'x@example.com',
	});
	const signed = (payload, sentAt, signingKey = key) => ({
		'content-type': 'application/json',
		'webhook-id': 'msg_forged',
		'webhook-timestamp': String(sentAt),
		'webhook-signature': `v1,${crypto
			.createHmac('sha256', signingKey)
			.update(`msg_forged.${sentAt}.${payload}`)
			.digest('base64')}`,
	});
	const now = Math.floor(Date.now() / 1000);
	const tamperedBody = body.replace('x@example.com', 'y@example.com');
	const attempts = [
		['unsigned', { 'content-type': 'application/json' }, body],
		['signed with another key', signed(body, now, crypto.randomBytes(24)), body],
		['tampered after signing', signed(body, now), tamperedBody],
		['signed an hour ago', signed(body, now - 3600), body],
	];
	const before = await executionCount(workflow);
	for (const [what, headers, payload] of attempts) {
		const response = await fetch(webhookUrl(workflow), { method: 'POST', headers, body: payload });
		assert.equal(response.status, 401, what);
	}
	const genuine = await fetch(webhookUrl(workflow), {
		method: 'POST',
		headers: signed(body, now),
		body,
	});
	assert.equal(genuine.status, 200, 'the same request signed with the secret is accepted');
	await receiver.waitFor('/signups', 1, 30_000);
	await sleep(1000);
	assert.equal(receiver.at('/signups').length, 1, 'only the genuine request ran the workflow');
	assert.equal(await executionCount(workflow), before + 1);
	await deactivate(workflow);
});

test('a restart of n8n and a second activation keep exactly one subscription', async () => {
	const workflow = await createWorkflow(
		'Subscriptions',
		{ event: 'subscription', filter: [] },
		'/subs',
	);
	await activate(workflow);
	const mine = async () => (await subscriptions()).filter((s) => s.url === webhookUrl(workflow));
	const [first] = await mine();
	await n8n.stop();
	await n8n.start();
	editor = editorSession(n8n.url);
	await editor.logIn();
	assert.deepEqual(
		(await mine()).map((s) => s.id),
		[first.id],
		'the restart reused the subscription',
	);
	await deactivate(workflow);
	await activate(workflow);
	assert.equal((await mine()).length, 1, 'a second activation makes one subscription');
	await producer.publish(account.id, 'subscription', await fullExample('subscription'));
	await receiver.waitFor('/subs', 1, 30_000);
	await deactivate(workflow);
	assert.deepEqual(await mine(), []);
});

test("the node in n8n's editor (screenshot for the README)", async () => {
	const workflow = await createWorkflow(
		'Route generations',
		{ event: 'generation_complete', filter: [JSON.stringify(['type', 'video'])] },
		'/screenshot',
	);
	const file = path.join(os.tmpdir(), `hookbridge-n8n-trigger-${process.pid}.png`);
	const shot = await screenshotTrigger({ n8nUrl: n8n.url, workflow, file });
	assert.match(shot.panelText, /An image or video generation finished\. Each event gives one item/);
	assert.match(shot.panelText, /Type: Video/);
	assert.ok(fs.statSync(file).size > 20_000, 'the screenshot has content');
	if (SCREENSHOTS) fs.copyFileSync(file, path.join(SCREENSHOTS, 'n8n-trigger.png'));
	fs.rmSync(file);
});
