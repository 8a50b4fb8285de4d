// The trigger's webhook lifecycle (checkExists, create, delete) as n8n calls
// it, driven with a stand-in for n8n's hook context against the real
// hookbridge binary: the production and the test URL of one workflow get
// subscriptions of their own, so testing an active workflow and stopping the
// test leave the production subscription alone; a subscription deleted in
// Hookbridge is noticed and made again.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { startHookbridge, admin } = require('../../tools/e2e/service');
const { HookbridgeTrigger } = require('../dist/nodes/HookbridgeTrigger/HookbridgeTrigger.node');

let service;
let account;

test.before(async () => {
	service = await startHookbridge();
	account = await admin(service).newAccount('n8n lifecycle');
});

test.after(async () => {
	if (service) await service.stop();
});

// What n8n's IHookFunctions offers the methods, for one webhook URL of a
// workflow whose static data is `staticData`.
const hookContext = (staticData, webhookUrl, parameters) => ({
	getWorkflowStaticData: () => staticData,
	getNodeWebhookUrl: () => webhookUrl,
	getNodeParameter: (name, fallback) => (name in parameters ? parameters[name] : fallback),
	getCredentials: async () => ({ apiKey: account.key, url: service.url }),
	getNode: () => ({
		name: 'Hookbridge Trigger',
		type: 'hookbridgeTrigger',
		typeVersion: 1,
		parameters,
	}),
	helpers: {
		httpRequestWithAuthentication: async (credentialType, options) => {
			assert.equal(credentialType, 'hookbridgeApi');
			const response = await fetch(options.url, {
				method: options.method,
				headers: { authorization: `Bearer ${account.key}`, 'content-type': 'application/json' },
				body: options.body === undefined ? undefined : JSON.stringify(options.body),
			});
			return { statusCode: response.status, headers: {}, body: await response.json() };
		},
	},
});

const subscriptionUrls = async () => {
	const response = await fetch(`${service.url}/v1/webhooks`, {
		headers: { authorization: `Bearer ${account.key}` },
	});
	return (await response.json()).data.map((s) => s.url).sort();
};

test('a test listen and its end leave the production subscription alone', async () => {
	const methods = new HookbridgeTrigger().webhookMethods.default;
	const staticData = {};
	const parameters = { event: 'signup', filter: [] };
	const production = hookContext(
		staticData,
		'https://n8n.example.com/webhook/abc/webhook',
		parameters,
	);
	const testListen = hookContext(
		staticData,
		'https://n8n.example.com/webhook-test/abc/webhook',
		parameters,
	);

	assert.equal(await methods.checkExists.call(production), false);
	assert.equal(await methods.create.call(production), true);
	assert.equal(await methods.checkExists.call(production), true);
	assert.equal(await methods.checkExists.call(testListen), false);
	assert.equal(await methods.create.call(testListen), true);
	assert.deepEqual(await subscriptionUrls(), [
		'https://n8n.example.com/webhook-test/abc/webhook',
		'https://n8n.example.com/webhook/abc/webhook',
	]);
	assert.equal(await methods.delete.call(testListen), true);
	assert.deepEqual(await subscriptionUrls(), ['https://n8n.example.com/webhook/abc/webhook']);
	assert.equal(await methods.checkExists.call(production), true, 'production is still subscribed');

	const { id } = staticData.subscriptions['https://n8n.example.com/webhook/abc/webhook'];
	await fetch(`${service.url}/v1/hooks/${id}`, {
		method: 'DELETE',
		headers: { authorization: `Bearer ${account.key}` },
	});
	assert.equal(
		await methods.checkExists.call(production),
		false,
		'a subscription deleted in Hookbridge',
	);
	assert.deepEqual(staticData.subscriptions, {}, 'is forgotten');
	assert.equal(await methods.create.call(production), true);
	assert.equal(await methods.delete.call(production), true);
	assert.equal(await methods.delete.call(production), true, 'deleting twice is fine');
	assert.deepEqual(await subscriptionUrls(), []);
});

test("a refused subscription is an error that names Hookbridge's answer", async () => {
	const methods = new HookbridgeTrigger().webhookMethods.default;
	const context = hookContext({}, 'https://n8n.example.com/webhook/def/webhook', {
		event: 'no.such.type',
		filter: [],
	});
	await assert.rejects(methods.create.call(context), /Subscribing: Hookbridge answered 422/);
});
