// End-to-end test plumbing shared by zapier-app/ and make-app/: the real
// hookbridge binary on a free port over a temporary SQLite file, a real local
// HTTP receiver standing in for Zapier's or Make's hook URLs, and the admin
// calls a product would make.
'use strict';

const { execFileSync, spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const readline = require('readline');

const ADMIN_KEY = 'e2e-test-admin-key-0123456789';
const BINARY =
  process.env.HOOKBRIDGE_BIN || path.resolve(__dirname, '..', '..', 'target', 'debug', 'hookbridge');

const startHookbridge = async () => {
  if (!fs.existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run \`cargo build\` first (or set HOOKBRIDGE_BIN)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-e2e-'));
  const child = spawn(
    BINARY,
    ['serve', '--listen', '127.0.0.1:0', '--database-url', `sqlite://${path.join(dir, 'hb.db')}`,
     '--admin-key', ADMIN_KEY, '--retry-schedule', '200ms,200ms'],
    { env: { ...process.env, HOOKBRIDGE_ALLOW_PRIVATE_TARGETS: '1', HOOKBRIDGE_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'] }
  );
  const url = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`hookbridge exited with ${code} before listening`)));
  });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { url, stop };
};

// The receiver's usual answer: 200 with a small JSON body, as Zapier's and
// Make's hook endpoints answer.
const USUAL_ANSWER = { status: 200, body: '{"status":"success"}' };

// Records every request and answers each with `answer(path)`, or the usual
// answer where that gives nothing (e.g. `{ status: 200, body: '' }` for an
// endpoint that answers with an empty body).
const startReceiver = async ({ answer = () => undefined } = {}) => {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      waiters.splice(0).forEach((wake) => wake());
      const { status, body } = answer(req.url) || USUAL_ANSWER;
      res.writeHead(status, body ? { 'content-type': 'application/json' } : {});
      res.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const at = (urlPath) => received.filter((r) => r.path === urlPath);
  const waitFor = async (urlPath, count, ms = 10000) => {
    const deadline = Date.now() + ms;
    while (at(urlPath).length < count) {
      if (Date.now() > deadline) throw new Error(`${urlPath}: ${at(urlPath).length} of ${count} deliveries`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return at(urlPath);
  };
  const close = () => new Promise((resolve) => server.close(resolve));
  return { url, at, waitFor, close };
};

const admin = (service) => {
  const call = async (method, urlPath, body) => {
    const response = await fetch(`${service.url}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${text}`);
    return JSON.parse(text);
  };
  return {
    newAccount: async (name) => {
      const account = await call('POST', '/v1/accounts', { name });
      const key = await call('POST', `/v1/accounts/${account.id}/api-keys`, {});
      return { ...account, key: key.key };
    },
    publish: (accountId, type, data) => call('POST', '/v1/events', { type, account_id: accountId, data }),
    registerEventType: (definition) => call('POST', '/v1/event-types', definition),
  };
};

// `hookbridge schemas export --from` the running service into a fresh temporary
// folder: every type it knows, registered ones included. Returns the folder.
const exportSchemas = (service) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookbridge-schemas-'));
  execFileSync(BINARY, ['schemas', 'export', '--from', service.url, '--dir', dir], { stdio: 'ignore' });
  return dir;
};

// A producer's own event type, as the tests of both apps register it.
const INVOICE_PAID = {
  name: 'invoice.paid',
  description: 'An invoice was paid or refunded.',
  schema: {
    type: 'object',
    required: ['invoice_id', 'amount', 'status'],
    properties: {
      invoice_id: { type: 'string', title: 'Invoice ID' },
      amount: { type: 'integer', minimum: 0 },
      status: { type: 'string', enum: ['paid', 'refunded'] },
    },
  },
  examples: [{ invoice_id: 'inv_1', amount: 1200, status: 'paid' }],
};

module.exports = { startHookbridge, startReceiver, admin, exportSchemas, INVOICE_PAID };
