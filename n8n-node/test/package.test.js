// Static checks of the package: the layout n8n loads (the `n8n` section,
// the built files, no runtime dependencies), drift of the generated files
// from ../schemas, and the trigger's signature check and filter building on
// the built code.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const generator = require('../scripts/generate');

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const {
	verifyDelivery,
	TIMESTAMP_TOLERANCE_SECONDS,
} = require('../dist/nodes/HookbridgeTrigger/signature');
const {
	filterFromSelection,
	filterOptions,
	eventTypeOptions,
} = require('../dist/nodes/HookbridgeTrigger/api');
const { HookbridgeTrigger } = require('../dist/nodes/HookbridgeTrigger/HookbridgeTrigger.node');
const { HookbridgeApi } = require('../dist/credentials/HookbridgeApi.credentials');

test('package.json is a community node package n8n can load', () => {
	assert.equal(pkg.name, 'n8n-nodes-hookbridge');
	assert.ok(pkg.keywords.includes('n8n-community-node-package'));
	assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
	assert.deepEqual(Object.keys(pkg.peerDependencies), ['n8n-workflow']);
	for (const file of [...pkg.n8n.nodes, ...pkg.n8n.credentials]) {
		assert.ok(fs.existsSync(path.join(ROOT, file)), `${file} is built`);
	}
	for (const icon of ['dist/icons/hookbridge.svg', 'dist/icons/hookbridge.dark.svg']) {
		assert.ok(fs.existsSync(path.join(ROOT, icon)), `${icon} is copied`);
	}
});

test('the credential and the node have the names the contract gives', () => {
	const credential = new HookbridgeApi();
	assert.equal(credential.name, 'hookbridgeApi');
	assert.equal(credential.displayName, 'Hookbridge API');
	assert.deepEqual(
		credential.properties.map((p) => p.name),
		['apiKey', 'url'],
	);
	assert.equal(credential.properties[0].typeOptions.password, true);
	assert.equal(credential.test.request.url, '/v1/me');
	const { description, webhookMethods } = new HookbridgeTrigger();
	assert.equal(description.name, 'hookbridgeTrigger');
	assert.equal(description.displayName, 'Hookbridge Trigger');
	assert.ok(description.properties.some((p) => p.name === 'event'));
	assert.deepEqual(Object.keys(webhookMethods.default).sort(), ['checkExists', 'create', 'delete']);
});

test('the generated files match schemas/', () => {
	for (const [file, text] of Object.entries(generator.build())) {
		assert.equal(
			fs.readFileSync(path.join(ROOT, file), 'utf8'),
			text,
			`${file} drifted: run npm run generate`,
		);
	}
});

test('the generator notices a changed schema', () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-schemas-'));
	const schema = JSON.parse(
		fs.readFileSync(path.join(ROOT, '..', 'schemas', 'signup.json'), 'utf8'),
	);
	fs.writeFileSync(
		path.join(dir, 'signup.json'),
		JSON.stringify({ ...schema, description: 'Someone joined.' }),
	);
	const built = generator.build(dir);
	fs.rmSync(dir, { recursive: true, force: true });
	assert.match(built[generator.CATALOG_FILE], /Someone joined\./);
	assert.notEqual(
		built[generator.CATALOG_FILE],
		fs.readFileSync(path.join(ROOT, generator.CATALOG_FILE), 'utf8'),
	);
});

const SECRET = `whsec_${crypto.randomBytes(24).toString('base64')}`;
const sign = (body, sentAt, secret = SECRET) => ({
	'webhook-id': 'msg_1',
	'webhook-timestamp': String(sentAt),
	'webhook-signature': `v1,${crypto
		.createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
		.update(`msg_1.${sentAt}.${body}`)
		.digest('base64')}`,
});

test('a delivery verifies; forged, tampered, stale and unsigned ones do not', () => {
	const body = '{"id":"evt_1","event":"signup","timestamp":1,"email":"a@example.com"}';
	const now = 1_800_000_000;
	assert.deepEqual(verifyDelivery(sign(body, now), Buffer.from(body), SECRET, now), {
		verified: true,
	});
	const rotated = { ...sign(body, now) };
	rotated['webhook-signature'] = `v1,b2xk ${rotated['webhook-signature']}`;
	assert.equal(
		verifyDelivery(rotated, Buffer.from(body), SECRET, now).verified,
		true,
		'any listed signature',
	);
	const refused = {
		forged: verifyDelivery(
			sign(body, now, `whsec_${crypto.randomBytes(24).toString('base64')}`),
			Buffer.from(body),
			SECRET,
			now,
		),
		tampered: verifyDelivery(sign(body, now), Buffer.from(body.replace('a@', 'b@')), SECRET, now),
		stale: verifyDelivery(
			sign(body, now - TIMESTAMP_TOLERANCE_SECONDS - 1),
			Buffer.from(body),
			SECRET,
			now,
		),
		future: verifyDelivery(
			sign(body, now + TIMESTAMP_TOLERANCE_SECONDS + 1),
			Buffer.from(body),
			SECRET,
			now,
		),
		unsigned: verifyDelivery({}, Buffer.from(body), SECRET, now),
		'no secret kept': verifyDelivery(sign(body, now), Buffer.from(body), undefined, now),
	};
	for (const [what, verdict] of Object.entries(refused))
		assert.equal(verdict.verified, false, what);
	assert.deepEqual(
		verifyDelivery(sign(body, now - TIMESTAMP_TOLERANCE_SECONDS), Buffer.from(body), SECRET, now),
		{
			verified: true,
		},
	);
});

const CATALOG = [
	{
		type: 'generation_complete',
		description: 'An image or video generation finished.',
		schema: {
			title: 'Generation complete',
			properties: { type: { title: 'Type', enum: ['image', 'video'] }, credits_used: {} },
		},
	},
	{ type: 'invoice.paid', schema: { properties: { status: { enum: ['paid', 'refunded'] } } } },
];

test('event options: any event first, then the catalog; filter options: each enum value', () => {
	assert.deepEqual(
		eventTypeOptions(CATALOG).map((o) => [o.name, o.value]),
		[
			['Any Event', '*'],
			['Generation Complete', 'generation_complete'],
			['Invoice Paid', 'invoice.paid'],
		],
	);
	assert.deepEqual(
		filterOptions(CATALOG, 'generation_complete').map((o) => o.name),
		['Type: Image', 'Type: Video'],
	);
	assert.deepEqual(filterOptions(CATALOG, 'no.such.type'), []);
});

test('the subscription filter groups the chosen values by field', () => {
	assert.equal(filterFromSelection([]), undefined);
	assert.deepEqual(
		filterFromSelection([
			JSON.stringify(['type', 'video']),
			JSON.stringify(['type', 'image']),
			JSON.stringify(['tier', 'pro']),
		]),
		{ type: ['video', 'image'], tier: ['pro'] },
	);
});
