// A real n8n for the live tests: installs it once into the cache
// (scripts/install-n8n.sh), starts it on Node.js 24 with a fresh user folder
// and its default SQLite database, this package's dist/ loaded as a custom
// extension, and talks to its REST API as the editor does (cookie session,
// browser id).
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const BROWSER_ID = 'hookbridge-n8n-tests';
const OWNER = {
	email: 'owner@example.com',
	firstName: 'Ada',
	lastName: 'Owner',
	password: 'Hookbridge-tests-1',
};
const READY_TIMEOUT_MS = 120_000;

// { nodeBin, n8nHome } from the install script (installing on first use).
const installN8n = () => {
	const output = execFileSync('bash', [path.join(ROOT, 'scripts', 'install-n8n.sh')], {
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	const value = (name) => output.match(new RegExp(`^${name}=(.*)$`, 'm'))[1];
	return { nodeBin: value('NODE24_BIN'), n8nHome: value('N8N_HOME') };
};

const freePort = () =>
	new Promise((resolve, reject) => {
		const server = net.createServer();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// n8n answers /healthz while it is still migrating and loading nodes; the
// editor's /rest/settings answers 200 with JSON only once it serves requests.
const waitUntilReady = async (url, child, logFile) => {
	const deadline = Date.now() + READY_TIMEOUT_MS;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) break;
		try {
			const response = await fetch(`${url}/rest/settings`);
			if (response.ok && (response.headers.get('content-type') || '').includes('json')) return;
		} catch {
			// not listening yet
		}
		await sleep(250);
	}
	const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-4000) : '';
	throw new Error(`n8n did not become ready (exit code ${child.exitCode}); its log ends:\n${log}`);
};

// One n8n installation with one user folder, started and stopped as often as
// a test needs (a restart keeps the database, the owner and the workflows).
const createN8n = async () => {
	const { nodeBin, n8nHome } = installN8n();
	const userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-n8n-'));
	const port = await freePort();
	const brokerPort = await freePort();
	const url = `http://127.0.0.1:${port}`;
	const logFile = path.join(userFolder, 'n8n.log');
	let child;

	const start = async () => {
		const log = fs.openSync(logFile, 'a');
		child = spawn(
			path.join(nodeBin, 'node'),
			[path.join(n8nHome, 'node_modules', 'n8n', 'bin', 'n8n'), 'start'],
			{
				env: {
					...process.env,
					PATH: `${nodeBin}${path.delimiter}${process.env.PATH}`,
					N8N_USER_FOLDER: userFolder,
					N8N_PORT: String(port),
					N8N_LISTEN_ADDRESS: '127.0.0.1',
					N8N_HOST: '127.0.0.1',
					WEBHOOK_URL: `${url}/`,
					N8N_CUSTOM_EXTENSIONS: DIST,
					N8N_RUNNERS_BROKER_PORT: String(brokerPort),
					N8N_SECURE_COOKIE: 'false',
					N8N_DIAGNOSTICS_ENABLED: 'false',
					N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
					N8N_TEMPLATES_ENABLED: 'false',
					N8N_PERSONALIZATION_ENABLED: 'false',
					N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
					N8N_LOG_LEVEL: 'info',
				},
				stdio: ['ignore', log, log],
			},
		);
		fs.closeSync(log);
		await waitUntilReady(url, child, logFile);
	};

	const stop = async () => {
		if (!child || child.exitCode !== null) return;
		const exited = new Promise((resolve) => child.on('exit', resolve));
		child.kill('SIGTERM');
		const forced = setTimeout(() => child.kill('SIGKILL'), 20_000);
		await exited;
		clearTimeout(forced);
	};

	const remove = async () => {
		await stop();
		fs.rmSync(userFolder, { recursive: true, force: true });
	};

	return { url, start, stop, remove };
};

// The editor's side of n8n's REST API: every call with the session cookie
// and the browser id the cookie was issued for; answers unwrapped from
// `{ data }`.
const editorSession = (url) => {
	let cookie = '';
	const call = async (method, urlPath, body) => {
		const response = await fetch(`${url}/rest${urlPath}`, {
			method,
			headers: { 'content-type': 'application/json', 'browser-id': BROWSER_ID, cookie },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const issued = response.headers.getSetCookie().find((c) => c.startsWith('n8n-auth='));
		if (issued) cookie = issued.split(';')[0];
		const text = await response.text();
		if (!response.ok)
			throw new Error(`n8n ${method} ${urlPath}: ${response.status} ${text.slice(0, 500)}`);
		return text ? JSON.parse(text).data : undefined;
	};
	return {
		call,
		setUpOwner: () => call('POST', '/owner/setup', OWNER),
		logIn: () =>
			call('POST', '/login', { emailOrLdapLoginId: OWNER.email, password: OWNER.password }),
	};
};

module.exports = { createN8n, editorSession, sleep, OWNER };
