// The Hookbridge dashboard: one page with hash routes over the account API,
// or, signed in with the admin key, over the operational webhooks only.
// Every element is built with DOM calls and every value from the API goes in
// as text (never innerHTML), so nothing the API returns is parsed as markup.
// The key lives in this tab's session storage and travels only in same-origin
// calls: an account key in the X-Api-Key header, the admin key as a bearer token.

const KEY_ITEM = 'hookbridge.api_key';
const ADMIN_KEY_ITEM = 'hookbridge.admin_key';
const main = document.getElementById('main');
const announcer = document.getElementById('announcer');

/** A refused or failed API call, carrying the service's JSON error. */
class ApiFailure extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The service answered ${status}`);
    this.status = status;
    this.code = error.code || 'error';
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

/** True when the tab is signed in with the admin key rather than an account's. */
const adminMode = () => Boolean(sessionStorage.getItem(ADMIN_KEY_ITEM));

/** True when the tab holds a key of either kind. */
const signedIn = () => Boolean(sessionStorage.getItem(KEY_ITEM) || sessionStorage.getItem(ADMIN_KEY_ITEM));

/**
 * Calls the API with the stored key; resolves to the parsed JSON body. A 401
 * signs out (the key was revoked), except while a key is being tried.
 */
async function api(method, path, body, { signOutOn401 = true } = {}) {
  const headers = { accept: 'application/json' };
  const key = sessionStorage.getItem(KEY_ITEM);
  const adminKey = sessionStorage.getItem(ADMIN_KEY_ITEM);
  if (key) headers['x-api-key'] = key;
  else if (adminKey) headers.authorization = `Bearer ${adminKey}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiFailure(0, { error: { code: 'network', message: `The service did not answer (${error.message}).` } });
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    if (response.status === 401 && (key || adminKey) && signOutOn401) {
      signOut('The service no longer accepts this key. Sign in again.');
    }
    throw new ApiFailure(response.status, json);
  }
  return json;
}

/** Element properties set as properties rather than attributes. */
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'required', 'selected', 'readOnly']);

/** Builds an element: `h('a', {href}, 'text', child, [more])`. */
function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'class') element.className = value;
    else if (PROPERTIES.has(name)) element[name] = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

let nextId = 0;
/** A document-unique id for label and description links. */
const uid = (prefix) => `${prefix}-${++nextId}`;

/** Says something to screen readers (and shows nothing). */
function announce(message) {
  announcer.textContent = '';
  setTimeout(() => {
    announcer.textContent = message;
  }, 50);
}

const dateTime = (iso) => (iso ? h('time', { datetime: iso }, new Date(iso).toLocaleString()) : '—');
const eventsText = (events) => (!events || events.length === 0 || events.includes('*') ? 'All events' : events.join(', '));
const pretty = (value) => JSON.stringify(value, null, 2);
const orderingText = (ordering) => (ordering === 'fifo' ? 'In publish order, one at a time' : 'None: several at a time, in any order');
const rateLimitText = (limit) => (limit === null || limit === undefined ? 'None' : `${limit} a second`);
const statusText = (webhook) => (webhook.enabled ? 'Enabled' : `Disabled${webhook.disabled_reason ? `: ${webhook.disabled_reason}` : ''}`);

/** An alert listing the service's message and each detail's pointer. */
function errorBox(failure) {
  const details = failure.details || [];
  return h(
    'div',
    { class: 'error-box', role: 'alert', tabindex: '-1' },
    h('p', {}, h('strong', {}, 'Not done: '), failure.message),
    details.length
      ? h('ul', {}, details.map((d) => h('li', {}, d.pointer ? h('code', {}, d.pointer) : null, d.pointer ? ': ' : '', d.message)))
      : null,
  );
}

/** Marks the form fields that a failure's details point at. */
function markInvalid(form, failure) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  form.querySelectorAll('.field-error').forEach((el) => el.remove());
  for (const detail of failure.details || []) {
    const pointer = detail.pointer || '';
    const field = [...form.querySelectorAll('[data-pointer]')].find(
      (el) => pointer === el.dataset.pointer || pointer.startsWith(`${el.dataset.pointer}/`),
    );
    if (!field) continue;
    const id = uid('error');
    field.setAttribute('aria-invalid', 'true');
    const described = field.getAttribute('aria-describedby');
    field.setAttribute('aria-describedby', described ? `${described} ${id}` : id);
    field.insertAdjacentElement('afterend', h('p', { class: 'field-error', id }, detail.message));
  }
}

/** Shows a failure above a form and marks the fields its details point at. */
function formFailed(form, errors, failure) {
  errors.replaceChildren(errorBox(failure));
  markInvalid(form, failure);
  errors.querySelector('[role=alert]').focus();
  announce(failure.message);
}

/** What the page itself refuses before asking the service, shaped like the service's 422. */
const localFailure = (details) => new ApiFailure(422, { error: { message: 'Some fields need attention.', details } });

/** A labelled input with an optional hint. */
function field(label, input, hint) {
  const id = input.id || uid('field');
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, input);
}

/** A copyable secret, with the warning that it is shown only now. */
function secretPanel(title, secret) {
  const code = h('code', { class: 'secret', 'data-testid': 'secret' }, secret);
  const status = h('span', { role: 'status' });
  const copy = h('button', {
    type: 'button',
    class: 'secondary',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        status.textContent = 'Copied.';
      } catch {
        window.getSelection().selectAllChildren(code);
        status.textContent = 'Selected: press Ctrl+C to copy.';
      }
    },
  }, 'Copy secret');
  return h(
    'section',
    { class: 'secret-panel', 'aria-label': title },
    h('h2', {}, title),
    h('p', {}, 'Shown only this once: store it now. Verify every delivery\'s signature with it.'),
    h('p', {}, code),
    h('p', {}, copy, ' ', status),
  );
}

/** A page: its heading (focused after navigation), actions and content. */
function page(title, actions, ...content) {
  document.title = `${title} · Hookbridge`;
  return h(
    'div',
    { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), h('div', { class: 'actions' }, actions || [])),
    content,
  );
}

/** What a delete is of: an account's webhook or an operational webhook. */
const WEBHOOK = { noun: 'webhook', Noun: 'Webhook', path: '/v1/webhooks' };
const OPERATIONAL_WEBHOOK = { noun: 'operational webhook', Noun: 'Operational webhook', path: '/v1/operational-webhooks' };

/** The delete confirmation, with the in-flight warning; resolves to true on delete. */
function confirmDelete(webhook, kind) {
  const title = uid('dialog-title');
  const description = uid('dialog-description');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const remove = h('button', { type: 'button', class: 'danger' }, `Delete ${kind.noun}`);
  const dialog = h(
    'dialog',
    { 'aria-labelledby': title, 'aria-describedby': description },
    h('h2', { id: title }, `Delete this ${kind.noun}?`),
    h(
      'div',
      { id: description },
      h('p', {}, 'Deliveries to ', h('code', {}, webhook.url), ' stop now, and deliveries not yet attempted are cancelled.'),
      h('p', { class: 'warning' }, 'Any in-flight webhooks may still be delivered.'),
    ),
    h('div', { class: 'actions' }, cancel, remove),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    cancel.addEventListener('click', () => dialog.close('cancel'));
    remove.addEventListener('click', () => dialog.close('delete'));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'delete');
    });
    dialog.showModal();
    cancel.focus();
  });
}

/** Deletes after confirmation (a webhook unless `kind` says otherwise); true when it was deleted. */
async function deleteWebhook(webhook, errors, kind = WEBHOOK) {
  if (!(await confirmDelete(webhook, kind))) return false;
  try {
    await api('DELETE', `${kind.path}/${encodeURIComponent(webhook.id)}`);
  } catch (failure) {
    errors.replaceChildren(errorBox(failure));
    return false;
  }
  announce(`${kind.Noun} to ${webhook.url} deleted.`);
  return true;
}

/**
 * A table over one of the API's paged lists (newest first), with "Load more"
 * while there is a next page and a message when there is nothing.
 */
function pagedList({ path, caption, columns, emptyText, errors, row }) {
  const body = h('tbody');
  const empty = h('p', { hidden: true }, emptyText);
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  let cursor = null;
  const showState = () => {
    more.hidden = !cursor;
    empty.hidden = body.children.length > 0;
  };
  const load = async (fresh) => {
    if (fresh) cursor = null;
    const list = await api('GET', cursor ? `${path}&cursor=${encodeURIComponent(cursor)}` : path);
    if (fresh) body.replaceChildren();
    body.append(...list.data.map(row));
    cursor = list.next_cursor;
    showState();
  };
  const shown = (fresh) => load(fresh).catch((failure) => errors.replaceChildren(errorBox(failure)));
  more.addEventListener('click', () => shown(false));
  const table = h(
    'table',
    {},
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    body,
  );
  return { elements: [table, empty, more], load, reload: () => shown(true), rowRemoved: showState };
}

// ---------------------------------------------------------------- sign in

/** The two kinds of key the sign-in form takes: their labels, hints and check. */
const KEY_KINDS = {
  account: {
    label: 'Account API key',
    hint: 'The key stays in this browser tab (session storage) until you sign out or close the tab.',
    item: KEY_ITEM,
    home: '#/webhooks',
    load: () => loadAccount(),
  },
  admin: {
    label: 'Admin key',
    hint: 'The service\'s admin key, for operational webhooks only. It stays in this browser tab (session storage) until you sign out or close the tab.',
    item: ADMIN_KEY_ITEM,
    home: '#/operational-webhooks',
    load: () => loadAdmin(),
  },
};

async function signInPage() {
  const key = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', id: 'api-key' });
  const errors = h('div');
  const kindName = uid('key-kind');
  const accountRadio = h('input', { type: 'radio', name: kindName, value: 'account', checked: true });
  const adminRadio = h('input', { type: 'radio', name: kindName, value: 'admin' });
  const keyField = field(KEY_KINDS.account.label, key, KEY_KINDS.account.hint);
  const chosenKind = () => KEY_KINDS[adminRadio.checked ? 'admin' : 'account'];
  const showKind = () => {
    keyField.querySelector('label').textContent = chosenKind().label;
    keyField.querySelector('.hint').textContent = chosenKind().hint;
  };
  accountRadio.addEventListener('change', showKind);
  adminRadio.addEventListener('change', showKind);
  const form = h(
    'form',
    {
      class: 'card narrow',
      onsubmit: async (event) => {
        event.preventDefault();
        const kind = chosenKind();
        sessionStorage.removeItem(KEY_ITEM);
        sessionStorage.removeItem(ADMIN_KEY_ITEM);
        sessionStorage.setItem(kind.item, key.value.trim());
        try {
          await kind.load();
        } catch (failure) {
          sessionStorage.removeItem(kind.item);
          errors.replaceChildren(
            errorBox(failure.status === 401 ? new ApiFailure(401, { error: { message: 'That key was not accepted.' } }) : failure),
          );
          key.setAttribute('aria-invalid', 'true');
          key.focus();
          return;
        }
        if (!location.hash.startsWith('#/') || location.hash === '#/sign-in') location.hash = kind.home;
        else render();
      },
    },
    errors,
    h(
      'fieldset',
      {},
      h('legend', {}, 'Sign in with'),
      h('label', { class: 'check' }, accountRadio, ' An account\'s API key (its webhooks)'),
      h('label', { class: 'check' }, adminRadio, ' Admin (operational webhooks)'),
    ),
    keyField,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  return page('Sign in', null, h('p', {}, 'Manage the webhooks of your account: where events go, what was delivered, and the event catalog. With the admin key, manage the operational webhooks instead.'), form);
}

/** Shows who is signed in and the navigation of that kind of key. */
function showSignedIn(name, kind) {
  document.getElementById('account-name').textContent = name;
  document.getElementById('account').hidden = false;
  document.getElementById('main-nav').hidden = false;
  document.querySelectorAll('#main-nav [data-kind]').forEach((item) => {
    item.hidden = item.dataset.kind !== kind;
  });
}

/** Reads the account behind the stored key and shows it in the header. */
async function loadAccount() {
  const account = await api('GET', '/v1/me', undefined, { signOutOn401: false });
  showSignedIn(account.name || account.id, 'account');
  return account;
}

/** Checks the stored admin key with a one-item list of operational webhooks. */
async function loadAdmin() {
  await api('GET', '/v1/operational-webhooks?limit=1', undefined, { signOutOn401: false });
  showSignedIn('Operator (admin key)', 'admin');
}

function signOut(message) {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(ADMIN_KEY_ITEM);
  document.getElementById('account').hidden = true;
  document.getElementById('main-nav').hidden = true;
  if (message) announce(message);
  if (location.hash !== '#/sign-in') location.hash = '#/sign-in';
  else render();
}

// ---------------------------------------------------------------- webhooks list

async function webhookListPage() {
  const errors = h('div');
  const list = pagedList({
    path: '/v1/webhooks?limit=50',
    caption: 'Your webhooks, newest first',
    columns: ['URL', 'Description', 'Events', 'Status', 'Created', 'Actions'],
    emptyText: 'No webhooks yet. Create one to start receiving events.',
    errors,
    row: (webhook) =>
      h(
        'tr',
        {},
        h('td', {}, h('a', { href: `#/webhooks/${encodeURIComponent(webhook.id)}`, class: 'url' }, webhook.url)),
        h('td', {}, webhook.description || ''),
        h('td', {}, eventsText(webhook.events)),
        h('td', {}, webhook.enabled ? 'Enabled' : 'Disabled'),
        h('td', {}, dateTime(webhook.created_at)),
        h(
          'td',
          { class: 'row-actions' },
          h('a', { href: `#/webhooks/${encodeURIComponent(webhook.id)}/edit`, 'aria-label': `Edit ${webhook.url}` }, 'Edit'),
          h('button', {
            type: 'button',
            class: 'link danger',
            'aria-label': `Delete ${webhook.url}`,
            onclick: async (event) => {
              if (await deleteWebhook(webhook, errors)) {
                event.target.closest('tr').remove();
                list.rowRemoved();
              }
            },
          }, 'Delete'),
        ),
      ),
  });
  await list.load(true);
  return page('Webhooks', h('a', { href: '#/webhooks/new', class: 'button' }, 'New webhook'), errors, list.elements);
}

// ---------------------------------------------------------------- webhook form

/** Fields an event filter can name: scalar leaves of the types' schemas, dotted when nested. */
function filterFields(types) {
  const fields = new Map();
  const walk = (schema, prefix, depth) => {
    for (const [name, property] of Object.entries((schema && schema.properties) || {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      const kinds = [].concat(property.type || []).filter((t) => t !== 'null');
      if (kinds.includes('object') && property.properties && depth < 3) {
        walk(property, path, depth + 1);
      } else if (kinds.some((k) => ['string', 'integer', 'number', 'boolean'].includes(k))) {
        const known = fields.get(path);
        const consts = Array.isArray(property.oneOf) && property.oneOf.every((b) => 'const' in b) ? property.oneOf.map((b) => b.const) : null;
        const values = (Array.isArray(property.enum) ? property.enum : consts)?.filter((v) => v !== null) ?? null;
        if (!known) {
          fields.set(path, { path, title: property.title || path, kind: kinds[0], values });
        } else if (known.values) {
          known.values = values ? [...new Set([...known.values, ...values])] : null;
        }
      }
    }
  };
  types.forEach((type) => walk(type.schema, '', 0));
  return [...fields.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/** Turns typed text into the JSON value the field's schema expects. */
function typed(kind, text) {
  if (kind === 'integer' || kind === 'number') {
    const number = Number(text);
    return text.trim() !== '' && Number.isFinite(number) ? number : text;
  }
  if (kind === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/** One filter condition: a field and the values any of which match. */
function conditionRow(fields, initial, onRemove) {
  const select = h('select', { required: true }, h('option', { value: '' }, 'Choose a field'), fields.map((f) => h('option', { value: f.path }, f.path)));
  const valuesSlot = h('div', { class: 'condition-values' });
  const row = h('li', { class: 'condition' });
  let read = () => [];
  const showValues = (chosen, preset) => {
    const spec = fields.find((f) => f.path === chosen);
    valuesSlot.replaceChildren();
    if (!spec) {
      read = () => [];
      return;
    }
    if (spec.values) {
      const boxes = spec.values.map((value) => h('input', { type: 'checkbox', value: String(value), checked: preset.includes(value) }));
      valuesSlot.append(
        h(
          'fieldset',
          { class: 'inline' },
          h('legend', {}, `Values of ${spec.path}`),
          boxes.map((box, i) => h('label', { class: 'check' }, box, ` ${spec.values[i]}`)),
        ),
      );
      read = () => spec.values.filter((_, i) => boxes[i].checked);
    } else {
      const input = h('input', { type: 'text', value: preset.join(', '), autocomplete: 'off' });
      valuesSlot.append(field(`Values of ${spec.path}`, input, 'Comma-separated; an event matches when the field equals any of them.'));
      read = () =>
        input.value
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== '')
          .map((v) => typed(spec.kind, v));
    }
  };
  select.addEventListener('change', () => showValues(select.value, []));
  const selectId = uid('condition-field');
  select.id = selectId;
  row.append(
    h('div', { class: 'field' }, h('label', { for: selectId }, 'Field'), select),
    valuesSlot,
    h('button', { type: 'button', class: 'link danger', onclick: () => onRemove(row) }, 'Remove condition'),
  );
  if (initial) {
    if (!fields.some((f) => f.path === initial.path)) {
      select.append(h('option', { value: initial.path }, initial.path));
      fields = [...fields, { path: initial.path, kind: 'string', values: null }];
    }
    select.value = initial.path;
    showValues(initial.path, initial.values);
  }
  row.condition = () => ({ path: select.value, values: read() });
  return row;
}

/** Rows of custom header names and write-only values. */
function headerEditor(initialRows) {
  const list = h('ul', { class: 'header-rows' });
  const addRow = (name = '') => {
    const nameInput = h('input', { type: 'text', value: name, autocomplete: 'off', spellcheck: 'false', placeholder: 'Authorization' });
    const valueInput = h('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false' });
    const row = h(
      'li',
      { class: 'header-row' },
      field('Header name', nameInput),
      field('Header value', valueInput),
      h('button', { type: 'button', class: 'link danger', onclick: () => row.remove() }, 'Remove header'),
    );
    row.header = () => [nameInput.value.trim(), valueInput.value];
    list.append(row);
    return row;
  };
  initialRows.forEach((name) => addRow(name));
  const editor = h('div', {}, list, h('button', { type: 'button', class: 'secondary', onclick: () => addRow().querySelector('input').focus() }, 'Add header'));
  editor.headers = () => {
    const headers = {};
    for (const row of list.children) {
      const [name, value] = row.header();
      if (name || value) headers[name] = value;
    }
    return headers;
  };
  editor.dataset.pointer = '/headers';
  return editor;
}

async function webhookFormPage(id) {
  const [types, webhook] = await Promise.all([
    api('GET', '/v1/event-types'),
    id ? api('GET', `/v1/webhooks/${encodeURIComponent(id)}`) : Promise.resolve(null),
  ]);
  const errors = h('div');
  const url = h('input', { type: 'url', required: true, autocomplete: 'off', value: webhook ? webhook.url : '', 'data-pointer': '/url', placeholder: 'https://api.example.com/webhooks/hookbridge' });
  const description = h('input', { type: 'text', value: (webhook && webhook.description) || '', 'data-pointer': '/description', placeholder: 'Production webhook for completed generations' });

  const subscribed = webhook ? webhook.events : ['*'];
  const everything = !subscribed.length || subscribed.includes('*');
  const radioName = uid('events-mode');
  const allRadio = h('input', { type: 'radio', name: radioName, value: 'all', checked: everything });
  const someRadio = h('input', { type: 'radio', name: radioName, value: 'some', checked: !everything });
  const typeBoxes = types.map((type) =>
    h('input', { type: 'checkbox', value: type.type, checked: !everything && subscribed.includes(type.type) }),
  );
  const typeList = h(
    'ul',
    { class: 'type-choices' },
    types.map((type, i) => {
      const hint = uid('type-hint');
      typeBoxes[i].setAttribute('aria-describedby', hint);
      return h('li', {}, h('label', { class: 'check' }, typeBoxes[i], ' ', h('code', {}, type.type)), h('p', { class: 'hint', id: hint }, type.description));
    }),
  );
  const eventsFieldset = h(
    'fieldset',
    { 'data-pointer': '/events' },
    h('legend', {}, 'Events'),
    h('label', { class: 'check' }, allRadio, ' Every event type, including ones added later'),
    h('label', { class: 'check' }, someRadio, ' Only the types checked below'),
    typeList,
  );
  const chosenTypes = () => (allRadio.checked ? types : types.filter((_, i) => typeBoxes[i].checked));

  const conditions = h('ul', { class: 'conditions' });
  const removeCondition = (row) => {
    row.remove();
    addCondition.focus();
  };
  const addCondition = h('button', {
    type: 'button',
    class: 'secondary',
    onclick: () => {
      const row = conditionRow(filterFields(chosenTypes()), null, removeCondition);
      conditions.append(row);
      row.querySelector('select').focus();
    },
  }, 'Add condition');
  for (const [path, value] of Object.entries((webhook && webhook.filter) || {})) {
    conditions.append(conditionRow(filterFields(chosenTypes()), { path, values: [].concat(value) }, removeCondition));
  }
  const filterFieldset = h(
    'fieldset',
    { 'data-pointer': '/filter' },
    h('legend', {}, 'Filter (optional)'),
    h('p', { class: 'hint' }, 'Deliver only events whose fields match every condition, such as only videos. Without conditions every event of the chosen types is delivered.'),
    conditions,
    addCondition,
  );

  const format = h(
    'select',
    { 'data-pointer': '/format' },
    h('option', { value: 'flat', selected: !webhook || webhook.format === 'flat' }, 'Flat: the event\'s fields at the top level'),
    h('option', { value: 'envelope', selected: webhook && webhook.format === 'envelope' }, 'Envelope: {id, type, created, data}'),
  );
  const ordering = h(
    'select',
    { 'data-pointer': '/ordering' },
    h('option', { value: 'none', selected: !webhook || webhook.ordering !== 'fifo' }, orderingText('none')),
    h('option', { value: 'fifo', selected: webhook && webhook.ordering === 'fifo' }, orderingText('fifo')),
  );
  const rateLimit = h('input', {
    type: 'text',
    inputmode: 'numeric',
    autocomplete: 'off',
    class: 'short',
    value: webhook && webhook.rate_limit !== null ? String(webhook.rate_limit) : '',
    'data-pointer': '/rate_limit',
    placeholder: 'No limit',
  });

  const headers = headerEditor(['']);
  let replaceHeaders = null;
  let headersFieldset;
  if (webhook) {
    replaceHeaders = h('input', { type: 'checkbox' });
    headers.hidden = true;
    replaceHeaders.addEventListener('change', () => {
      headers.hidden = !replaceHeaders.checked;
    });
    headersFieldset = h(
      'fieldset',
      {},
      h('legend', {}, 'Custom headers'),
      h(
        'p',
        { class: 'hint' },
        webhook.header_names.length
          ? ['Now sent: ', webhook.header_names.map((n, i) => [i ? ', ' : '', h('code', {}, n)]), '. Their values are never shown again.']
          : 'None are set.',
      ),
      h('label', { class: 'check' }, replaceHeaders, ' Replace the custom headers with the ones below'),
      headers,
    );
  } else {
    headersFieldset = h(
      'fieldset',
      {},
      h('legend', {}, 'Custom headers (optional)'),
      h('p', { class: 'hint' }, 'Sent with every delivery, for example an Authorization header your endpoint checks. Values are write-only: they are never shown after you save.'),
      headers,
    );
  }

  const submit = h('button', { type: 'submit' }, webhook ? 'Save changes' : 'Create webhook');
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    errors,
    field('Endpoint URL', url, 'The HTTPS address that receives a POST for each event.'),
    field('Description (optional)', description),
    eventsFieldset,
    filterFieldset,
    field('Body format', format),
    field('Ordering', ordering, 'In publish order, each delivery waits until the one before it was delivered or failed for good, retries included.'),
    field('Rate limit (optional)', rateLimit, 'At most this many deliveries a second (1 to 100000); the rest wait their turn, none is dropped. Empty for no limit.'),
    headersFieldset,
    h('div', { class: 'actions' }, submit, h('a', { href: webhook ? `#/webhooks/${encodeURIComponent(webhook.id)}` : '#/webhooks' }, 'Cancel')),
  );

  const collect = () => {
    const body = { url: url.value.trim(), description: description.value, format: format.value, ordering: ordering.value };
    const limit = rateLimit.value.trim();
    if (limit !== '') body.rate_limit = /^\d+$/.test(limit) ? Number(limit) : limit;
    else if (webhook) body.rate_limit = null;
    body.events = allRadio.checked ? ['*'] : types.filter((_, i) => typeBoxes[i].checked).map((t) => t.type);
    const filter = {};
    for (const row of conditions.children) {
      const { path, values } = row.condition();
      if (path) filter[path] = values.length === 1 ? values[0] : values;
    }
    if (Object.keys(filter).length) body.filter = filter;
    else if (webhook) body.filter = null;
    if (!webhook) {
      const chosen = headers.headers();
      if (Object.keys(chosen).length) body.headers = chosen;
    } else if (replaceHeaders.checked) {
      body.headers = headers.headers();
    }
    return body;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = collect();
    const local = [];
    if (!body.url) local.push({ pointer: '/url', message: 'Enter the endpoint URL.' });
    for (const [name, value] of Object.entries(body.headers || {})) {
      if (!name || !value) {
        local.push({ pointer: '/headers', message: name ? `Enter a value for ${name}, or remove the header.` : 'Enter the header\'s name, or remove it.' });
      }
    }
    if (typeof body.rate_limit === 'string') {
      local.push({ pointer: '/rate_limit', message: 'Enter a whole number of deliveries a second, or leave it empty for no limit.' });
    }
    if (!allRadio.checked && body.events.length === 0) {
      local.push({ pointer: '/events', message: 'Check at least one event type, or choose every event type.' });
    }
    if (local.length) {
      formFailed(form, errors, localFailure(local));
      return;
    }
    submit.disabled = true;
    try {
      if (webhook) {
        await api('PATCH', `/v1/webhooks/${encodeURIComponent(webhook.id)}`, body);
        announce('Webhook saved.');
        location.hash = `#/webhooks/${encodeURIComponent(webhook.id)}`;
      } else {
        const created = await api('POST', '/v1/webhooks', body);
        main.replaceChildren(
          page(
            'Webhook created',
            null,
            h('p', {}, 'Events now go to ', h('code', {}, created.url), '.'),
            secretPanel('Signing secret', created.secret),
            h('p', {}, h('a', { href: `#/webhooks/${encodeURIComponent(created.id)}`, class: 'button' }, 'Open the webhook'), ' ', h('a', { href: '#/webhooks' }, 'Back to all webhooks')),
          ),
        );
        main.querySelector('h1').focus();
        announce('Webhook created. Its signing secret is shown once.');
      }
    } catch (failure) {
      formFailed(form, errors, failure);
    } finally {
      submit.disabled = false;
    }
  });

  return page(webhook ? 'Edit webhook' : 'New webhook', null, form);
}

// ---------------------------------------------------------------- webhook details

/**
 * The start of what an endpoint answered (a test's outcome or an attempt):
 * its text, "(empty)" when it answered with no body (never the word null),
 * nothing when it did not answer at all.
 */
function answerBody({ status, response }) {
  const text = typeof response === 'string' ? response : response === null || response === undefined ? '' : JSON.stringify(response);
  if (text !== '') return h('pre', { class: 'snippet' }, text);
  if (status === null || status === undefined) return null;
  return h('p', { class: 'muted empty-body', title: 'The endpoint answered with an empty body.' }, '(empty)');
}

function attemptsSection(webhook) {
  const errors = h('div');
  const row = (attempt) => {
    const ok = attempt.status >= 200 && attempt.status < 300;
    const outcome = attempt.status ? String(attempt.status) : 'No answer';
    return h(
      'tr',
      {},
      h('td', {}, dateTime(attempt.created_at)),
      h('td', {}, h('code', {}, attempt.event_type), h('br'), h('span', { class: 'muted' }, attempt.event_id)),
      h('td', {}, h('span', { class: ok ? 'badge ok' : 'badge failed' }, outcome)),
      h('td', {}, attempt.latency_ms === null || attempt.latency_ms === undefined ? '—' : `${attempt.latency_ms} ms`),
      h('td', {}, attempt.error ? h('span', { class: 'error-text' }, attempt.error) : null, answerBody(attempt)),
      h(
        'td',
        {},
        h('button', {
          type: 'button',
          class: 'secondary',
          'aria-label': `Resend event ${attempt.event_id}`,
          onclick: async () => {
            try {
              await api('POST', `/v1/deliveries/${encodeURIComponent(attempt.delivery_id)}/resend`);
              errors.replaceChildren(h('p', { class: 'notice', role: 'status' }, `Event ${attempt.event_id} is queued to be sent again.`));
            } catch (failure) {
              errors.replaceChildren(errorBox(failure));
            }
          },
        }, 'Resend'),
      ),
    );
  };
  const list = pagedList({
    path: `/v1/webhooks/${encodeURIComponent(webhook.id)}/attempts?limit=25`,
    caption: 'Delivery attempts, newest first',
    columns: ['When', 'Event', 'Status', 'Latency', 'Response', 'Action'],
    emptyText: 'No attempts yet. Send a test event to see one.',
    errors,
    row,
  });
  const section = h(
    'section',
    { 'aria-labelledby': 'attempts-title' },
    h('div', { class: 'section-head' }, h('h2', { id: 'attempts-title' }, 'Attempts'), h('button', { type: 'button', class: 'secondary', onclick: () => list.reload() }, 'Refresh')),
    errors,
    list.elements,
  );
  section.reload = list.reload;
  return section;
}

function testEventSection(webhook, types, onSent) {
  const subscribed = webhook.events.includes('*') || webhook.events.length === 0 ? types.map((t) => t.type) : webhook.events;
  const select = h('select', {}, subscribed.map((name) => h('option', { value: name }, name)));
  const result = h('div', { role: 'status', class: 'test-result' });
  const send = h('button', { type: 'submit' }, 'Send test event');
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (event) => {
        event.preventDefault();
        send.disabled = true;
        result.replaceChildren(h('p', {}, 'Sending…'));
        try {
          const outcome = await api('POST', `/v1/webhooks/${encodeURIComponent(webhook.id)}/test`, { event_type: select.value });
          const answered = outcome.status ? `answered ${outcome.status}` : `did not answer (${outcome.error})`;
          result.replaceChildren(
            h('p', { class: outcome.delivered ? 'notice ok' : 'notice failed' }, `The endpoint ${answered} in ${outcome.latency_ms} ms.`),
            answerBody(outcome),
          );
          onSent();
        } catch (failure) {
          result.replaceChildren(errorBox(failure));
        } finally {
          send.disabled = false;
        }
      },
    },
    field('Event type', select),
    send,
  );
  return h(
    'section',
    { 'aria-labelledby': 'test-title' },
    h('h2', { id: 'test-title' }, 'Send a test event'),
    h('p', { class: 'hint' }, 'Sends the type\'s example now, signed like any delivery. It is recorded as an attempt and never retried.'),
    form,
    result,
  );
}

/** What a `datetime-local` input shows for `date`, in local time, to the second. */
function localDateTimeValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A `datetime-local` input's local time as RFC 3339 (UTC); text that is no time goes as typed, for the service to refuse. */
function rfc3339FromLocal(text) {
  const at = new Date(text);
  return text && !Number.isNaN(at.getTime()) ? at.toISOString() : text;
}

function replaySection(webhook, onReplayed) {
  const dayAgo = new Date(Date.now() - 24 * 60 * 60 * 1000);
  const since = h('input', { type: 'datetime-local', step: '1', value: localDateTimeValue(dayAgo), 'data-pointer': '/since' });
  const until = h('input', { type: 'datetime-local', step: '1', 'data-pointer': '/until' });
  const only = h(
    'select',
    { 'data-pointer': '/only' },
    h('option', { value: 'all' }, 'Everything: events it never got, and every delivery again'),
    h('option', { value: 'missing' }, 'Only events it never got'),
    h('option', { value: 'failed' }, 'Only deliveries that failed'),
  );
  const result = h('div', { role: 'status', class: 'replay-result' });
  const submit = h('button', { type: 'submit' }, 'Replay');
  const form = h(
    'form',
    {
      class: 'inline-form',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { since: rfc3339FromLocal(since.value), only: only.value };
        if (until.value) body.until = rfc3339FromLocal(until.value);
        submit.disabled = true;
        try {
          const { replayed } = await api('POST', `/v1/webhooks/${encodeURIComponent(webhook.id)}/replay`, body);
          markInvalid(form, { details: [] });
          result.replaceChildren(h('p', { class: 'notice ok' }, `${replayed} ${replayed === 1 ? 'delivery' : 'deliveries'} replayed.`));
          onReplayed();
        } catch (failure) {
          markInvalid(form, failure);
          result.replaceChildren(errorBox(failure));
        } finally {
          submit.disabled = false;
        }
      },
    },
    field('From', since),
    field('Until (optional)', until, 'Now when empty.'),
    field('What to replay', only),
    submit,
  );
  return h(
    'section',
    { 'aria-labelledby': 'replay-title' },
    h('h2', { id: 'replay-title' }, 'Replay events'),
    h('p', { class: 'hint' }, 'Sends again the events published in a time window (your local time), with their original ids: those this webhook never got because it did not exist yet or was disabled, those whose delivery failed, or everything. A disabled webhook gets them once enabled.'),
    form,
    result,
  );
}

function rotateSection(webhook, onRotated) {
  const grace = h(
    'select',
    {},
    h('option', { value: '0' }, 'Stop it at once'),
    h('option', { value: '3600' }, 'For 1 hour'),
    h('option', { value: '86400', selected: true }, 'For 24 hours'),
    h('option', { value: '604800' }, 'For 7 days'),
  );
  const output = h('div');
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const rotated = await api('POST', `/v1/webhooks/${encodeURIComponent(webhook.id)}/rotate-secret`, { grace_seconds: Number(grace.value) });
          output.replaceChildren(secretPanel('New signing secret', rotated.secret));
          output.querySelector('h2').setAttribute('tabindex', '-1');
          output.querySelector('h2').focus();
          onRotated(rotated);
        } catch (failure) {
          output.replaceChildren(errorBox(failure));
        }
      },
    },
    field('Keep signing with the old secret', grace),
    h('button', { type: 'submit' }, 'Rotate secret'),
  );
  return h(
    'section',
    { 'aria-labelledby': 'rotate-title' },
    h('h2', { id: 'rotate-title' }, 'Signing secret'),
    h('p', { class: 'hint' }, 'Secrets are shown only when they are made. Rotating makes a new one; the old one can keep signing beside it while your endpoint switches over.'),
    form,
    output,
  );
}

function summary(webhook) {
  const rows = [
    ['URL', h('code', {}, webhook.url)],
    ['Description', webhook.description || '—'],
    ['Events', eventsText(webhook.events)],
    ['Filter', webhook.filter ? h('code', {}, JSON.stringify(webhook.filter)) : 'None: every event of these types'],
    ['Format', webhook.format],
    ['Ordering', orderingText(webhook.ordering)],
    ['Rate limit', rateLimitText(webhook.rate_limit)],
    ['Source', webhook.source],
    ['Custom headers', webhook.header_names.length ? `${webhook.header_names.join(', ')} (values hidden)` : 'None'],
    ['Status', statusText(webhook)],
    ['Created', dateTime(webhook.created_at)],
    ['Updated', dateTime(webhook.updated_at)],
  ];
  if (webhook.previous_secret_expires_at) rows.push(['Old secret signs until', dateTime(webhook.previous_secret_expires_at)]);
  return h('dl', { class: 'summary' }, rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

async function webhookDetailPage(id) {
  const [webhook, types] = await Promise.all([api('GET', `/v1/webhooks/${encodeURIComponent(id)}`), api('GET', '/v1/event-types')]);
  const errors = h('div');
  const details = h('div', {}, summary(webhook));
  const toggle = h('button', {
    type: 'button',
    class: 'secondary',
    onclick: async () => {
      try {
        const changed = await api('PATCH', `/v1/webhooks/${encodeURIComponent(webhook.id)}`, { enabled: !webhook.enabled });
        Object.assign(webhook, changed);
        details.replaceChildren(summary(webhook));
        toggle.textContent = webhook.enabled ? 'Disable' : 'Enable';
        announce(webhook.enabled ? 'Webhook enabled.' : 'Webhook disabled: events are kept but not delivered.');
      } catch (failure) {
        errors.replaceChildren(errorBox(failure));
      }
    },
  }, webhook.enabled ? 'Disable' : 'Enable');
  const attempts = attemptsSection(webhook);
  await attempts.reload();
  const refreshSummary = async () => {
    Object.assign(webhook, await api('GET', `/v1/webhooks/${encodeURIComponent(webhook.id)}`));
    details.replaceChildren(summary(webhook));
  };
  return page(
    'Webhook',
    [
      h('a', { href: `#/webhooks/${encodeURIComponent(webhook.id)}/edit`, class: 'button' }, 'Edit'),
      toggle,
      h('button', {
        type: 'button',
        class: 'danger',
        onclick: async () => {
          if (await deleteWebhook(webhook, errors)) location.hash = '#/webhooks';
        },
      }, 'Delete'),
    ],
    errors,
    details,
    testEventSection(webhook, types, () => attempts.reload()),
    replaySection(webhook, () => attempts.reload()),
    attempts,
    rotateSection(webhook, () => refreshSummary().catch(() => {})),
  );
}

// ---------------------------------------------------------------- catalog

async function catalogPage() {
  const types = await api('GET', '/v1/event-types');
  const index = h('ul', { class: 'toc' }, types.map((t) => h('li', {}, h('a', { href: `#/catalog/${encodeURIComponent(t.type)}` }, t.type))));
  const sections = types.map((type) => {
    const fields = filterFields([type]);
    return h(
      'section',
      { class: 'card event-type', id: `type-${type.type}`, 'aria-labelledby': `type-title-${type.type}` },
      h('h2', { id: `type-title-${type.type}`, tabindex: '-1' }, h('code', {}, type.type), ' ', h('span', { class: 'badge' }, type.origin === 'registered' ? 'Registered' : 'Built in')),
      h('p', {}, type.description),
      h(
        'table',
        {},
        h('caption', {}, 'Fields'),
        h('thead', {}, h('tr', {}, ['Field', 'Type', 'Values'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, fields.map((f) => h('tr', {}, h('td', {}, h('code', {}, f.path)), h('td', {}, f.kind), h('td', {}, f.values ? f.values.join(', ') : 'any')))),
      ),
      h('details', {}, h('summary', {}, 'JSON Schema'), h('pre', {}, pretty(type.schema))),
      h('details', { open: true }, h('summary', {}, 'Example'), h('pre', {}, pretty((type.examples || [])[0] ?? {}))),
    );
  });
  return page('Event catalog', null, h('p', {}, 'Every event type this service sends, with the fields a filter can use.'), h('nav', { 'aria-label': 'Event types' }, index), sections);
}

// ---------------------------------------------------------------- operational webhooks

/** The operational events, each with when it is sent. */
const OPERATIONAL_EVENTS = [
  ['webhook.disabled', 'Auto-disable turned a customer\'s webhook off.'],
  ['delivery.exhausted', 'A delivery\'s retry schedule ran out (test sends never count).'],
  ['subscription.removed', 'An endpoint\'s 410 removed a Zapier, n8n or raw subscription.'],
];

const eventCodes = (events) => events.map((name, i) => [i ? ', ' : '', h('code', {}, name)]);

async function operationalListPage() {
  const errors = h('div');
  const list = pagedList({
    path: '/v1/operational-webhooks?limit=50',
    caption: 'Operational webhooks, newest first',
    columns: ['URL', 'Events', 'Status', 'Created', 'Actions'],
    emptyText: 'No operational webhooks yet. Create one to hear about your customers\' endpoints.',
    errors,
    row: (webhook) =>
      h(
        'tr',
        {},
        h('td', {}, h('code', { class: 'url' }, webhook.url)),
        h('td', {}, eventCodes(webhook.events)),
        h('td', {}, statusText(webhook)),
        h('td', {}, dateTime(webhook.created_at)),
        h(
          'td',
          { class: 'row-actions' },
          h('button', {
            type: 'button',
            class: 'link danger',
            'aria-label': `Delete ${webhook.url}`,
            onclick: async (event) => {
              if (await deleteWebhook(webhook, errors, OPERATIONAL_WEBHOOK)) {
                event.target.closest('tr').remove();
                list.rowRemoved();
              }
            },
          }, 'Delete'),
        ),
      ),
  });
  await list.load(true);
  return page(
    'Operational webhooks',
    h('a', { href: '#/operational-webhooks/new', class: 'button' }, 'New operational webhook'),
    h('p', {}, 'Where the product hears about its customers\' endpoints: a webhook disabled, a delivery out of retries, a subscription removed. They are signed with their own secret and retried like any delivery.'),
    errors,
    list.elements,
  );
}

async function operationalFormPage() {
  const errors = h('div');
  const url = h('input', { type: 'url', required: true, autocomplete: 'off', 'data-pointer': '/url', placeholder: 'https://ops.example.com/hookbridge' });
  const eventBoxes = OPERATIONAL_EVENTS.map(([name]) => h('input', { type: 'checkbox', value: name }));
  const eventsFieldset = h(
    'fieldset',
    { 'data-pointer': '/events' },
    h('legend', {}, 'Events'),
    h(
      'ul',
      { class: 'type-choices' },
      OPERATIONAL_EVENTS.map(([name, when], i) => {
        const hint = uid('type-hint');
        eventBoxes[i].setAttribute('aria-describedby', hint);
        return h('li', {}, h('label', { class: 'check' }, eventBoxes[i], ' ', h('code', {}, name)), h('p', { class: 'hint', id: hint }, when));
      }),
    ),
  );
  const secret = h('input', { type: 'password', autocomplete: 'new-password', spellcheck: 'false', 'data-pointer': '/secret' });
  const submit = h('button', { type: 'submit' }, 'Create operational webhook');
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    errors,
    field('Endpoint URL', url, 'The HTTPS address that receives a POST for each operational event.'),
    eventsFieldset,
    field('Signing secret (optional)', secret, 'Your own whsec_ secret (base64 after the prefix); empty for a new one.'),
    h('div', { class: 'actions' }, submit, h('a', { href: '#/operational-webhooks' }, 'Cancel')),
  );

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { url: url.value.trim(), events: eventBoxes.filter((box) => box.checked).map((box) => box.value) };
    if (secret.value) body.secret = secret.value;
    const local = [];
    if (!body.url) local.push({ pointer: '/url', message: 'Enter the endpoint URL.' });
    if (body.events.length === 0) local.push({ pointer: '/events', message: 'Check at least one event.' });
    if (local.length) {
      formFailed(form, errors, localFailure(local));
      return;
    }
    submit.disabled = true;
    try {
      const created = await api('POST', '/v1/operational-webhooks', body);
      main.replaceChildren(
        page(
          'Operational webhook created',
          null,
          h('p', {}, 'Operational events (', eventCodes(created.events), ') now go to ', h('code', {}, created.url), '.'),
          secretPanel('Signing secret', created.secret),
          h('p', {}, h('a', { href: '#/operational-webhooks', class: 'button' }, 'Back to operational webhooks')),
        ),
      );
      main.querySelector('h1').focus();
      announce('Operational webhook created. Its signing secret is shown once.');
    } catch (failure) {
      formFailed(form, errors, failure);
    } finally {
      submit.disabled = false;
    }
  });

  return page('New operational webhook', null, form);
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^#\/webhooks\/new$/, () => webhookFormPage(null)],
  [/^#\/webhooks\/([^/]+)\/edit$/, (id) => webhookFormPage(decodeURIComponent(id))],
  [/^#\/webhooks\/([^/]+)$/, (id) => webhookDetailPage(decodeURIComponent(id))],
  [/^#\/catalog(?:\/([^/]+))?$/, () => catalogPage()],
  [/^#\/webhooks$/, () => webhookListPage()],
];

/** The admin key's routes: the operational webhooks and nothing else. */
const ADMIN_ROUTES = [
  [/^#\/operational-webhooks\/new$/, () => operationalFormPage()],
  [/^#\/operational-webhooks$/, () => operationalListPage()],
];

let renderCount = 0;

async function render() {
  const ticket = ++renderCount;
  const hash = location.hash;
  const admin = adminMode();
  let view;
  try {
    if (!signedIn()) {
      view = await signInPage();
    } else {
      const route = (admin ? ADMIN_ROUTES : ROUTES).find(([pattern]) => pattern.test(hash));
      if (!route) {
        location.replace(admin ? KEY_KINDS.admin.home : KEY_KINDS.account.home);
        return;
      }
      view = await route[1](...hash.match(route[0]).slice(1));
    }
  } catch (failure) {
    if (!signedIn()) return;
    const back = admin ? h('a', { href: KEY_KINDS.admin.home }, 'Back to operational webhooks') : h('a', { href: KEY_KINDS.account.home }, 'Back to webhooks');
    view = page(failure.status === 404 ? 'Not found' : 'Something went wrong', null, errorBox(failure), h('p', {}, back));
  }
  if (ticket !== renderCount) return;
  main.replaceChildren(view);
  document.querySelectorAll('#main-nav a').forEach((link) => {
    if (hash.startsWith(link.getAttribute('href'))) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
  const anchor = hash.match(/^#\/catalog\/(.+)$/);
  const target = anchor ? document.getElementById(`type-title-${decodeURIComponent(anchor[1])}`) : main.querySelector('h1');
  if (target) {
    target.focus();
    if (anchor) target.scrollIntoView();
  }
}

document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', render);

(async () => {
  const kind = adminMode() ? KEY_KINDS.admin : KEY_KINDS.account;
  if (sessionStorage.getItem(kind.item)) {
    try {
      await kind.load();
    } catch {
      sessionStorage.removeItem(kind.item);
    }
  }
  render();
})();
