// A small evaluator for the part of Make's IML these files use: `{{...}}`
// templates with dotted/indexed paths, string and number literals, the
// spread key `"{{...}}"` of an object, and the functions `ifempty`, `if` and
// `parseDate` (formats `X`, unix seconds, and `x`, milliseconds, as Make's
// moment-based parser reads them). Anything else throws, so a file that
// starts using more of IML fails the tests until the evaluator covers it.
'use strict';

// parseDate(text, format): a date (Make keeps it as a date and outputs it
// as ISO 8601 in UTC, YYYY-MM-DDTHH:mm:ss.sssZ).
const parseDate = (text, format) => {
  if (isEmpty(text)) return undefined;
  let date;
  if (format === 'X' || format === 'x') {
    const number = Number(text);
    if (!Number.isFinite(number)) throw new Error(`IML: parseDate cannot read ${JSON.stringify(text)} as ${format}`);
    date = new Date(format === 'X' ? number * 1000 : number);
  } else if (format === undefined) {
    date = new Date(text);
  } else {
    throw new Error(`IML: parseDate format ${JSON.stringify(format)} is not supported by this evaluator`);
  }
  if (Number.isNaN(date.getTime())) throw new Error(`IML: parseDate cannot read ${JSON.stringify(text)}`);
  return date;
};

const FUNCTIONS = {
  ifempty: (value, fallback) => (isEmpty(value) ? fallback : value),
  if: (condition, then, otherwise) => (condition ? then : otherwise),
  parseDate,
};

function isEmpty(value) {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

const tokenize = (source) => {
  const tokens = [];
  const pattern = /\s*(?:('(?:[^'\\]|\\.)*')|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)|([A-Za-z_$][\w$]*)|([().,;[\]]))/y;
  let at = 0;
  while (at < source.length) {
    if (/^\s*$/.test(source.slice(at))) break;
    pattern.lastIndex = at;
    const match = pattern.exec(source);
    if (!match) throw new Error(`IML: cannot read ${JSON.stringify(source.slice(at))} in {{${source}}}`);
    at = pattern.lastIndex;
    const [, single, double, number, ident, punct] = match;
    if (single !== undefined) tokens.push({ kind: 'value', value: single.slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (double !== undefined) tokens.push({ kind: 'value', value: JSON.parse(double) });
    else if (number !== undefined) tokens.push({ kind: 'value', value: Number(number) });
    else if (ident !== undefined) tokens.push({ kind: 'ident', value: ident });
    else tokens.push({ kind: 'punct', value: punct });
  }
  return tokens;
};

const evaluate = (source, context) => {
  const tokens = tokenize(source);
  let position = 0;
  const peek = () => tokens[position];
  const take = (punct) => {
    const token = tokens[position++];
    if (!token || (punct && token.value !== punct)) {
      throw new Error(`IML: expected ${punct || 'a value'} in {{${source}}}`);
    }
    return token;
  };
  const expression = () => {
    const token = take();
    if (token.kind === 'value') return token.value;
    if (token.kind !== 'ident') throw new Error(`IML: unexpected ${token.value} in {{${source}}}`);
    if (peek() && peek().value === '(') {
      const fn = FUNCTIONS[token.value];
      if (!fn) throw new Error(`IML: function ${token.value} is not supported by this evaluator`);
      take('(');
      const args = [];
      while (peek() && peek().value !== ')') {
        args.push(expression());
        if (peek() && (peek().value === ',' || peek().value === ';')) take();
      }
      take(')');
      return fn(...args);
    }
    if (['true', 'false', 'null'].includes(token.value)) return JSON.parse(token.value);
    let value = context[token.value];
    while (peek() && (peek().value === '.' || peek().value === '[')) {
      if (take().value === '.') {
        value = value == null ? undefined : value[take().value];
      } else {
        const key = expression();
        take(']');
        value = value == null ? undefined : value[key];
      }
    }
    return value;
  };
  const value = expression();
  if (position !== tokens.length) throw new Error(`IML: trailing input in {{${source}}}`);
  return value;
};

const WHOLE = /^\{\{([^{}]*)\}\}$/;
const PART = /\{\{([^{}]*)\}\}/g;
const SPREAD = '{{...}}';

/**
 * Render an IML value: strings are templates (a string that is one whole
 * `{{expr}}` keeps the expression's type), objects and arrays recursively;
 * keys whose value renders to undefined are dropped, as Make drops them. An
 * object's `"{{...}}"` key spreads the object its value renders to, in its
 * place among the keys (later keys win).
 */
const render = (value, context) => {
  if (typeof value === 'string') {
    const whole = value.match(WHOLE);
    if (whole) return evaluate(whole[1], context);
    return value.replace(PART, (_, source) => {
      const part = evaluate(source, context);
      if (part === undefined || part === null) return '';
      if (part instanceof Date) return part.toISOString();
      return typeof part === 'object' ? JSON.stringify(part) : String(part);
    });
  }
  if (Array.isArray(value)) return value.map((item) => render(item, context));
  if (value && typeof value === 'object') {
    const result = {};
    for (const [key, item] of Object.entries(value)) {
      const rendered = render(item, context);
      if (key === SPREAD) {
        if (rendered === undefined || rendered === null) continue;
        if (typeof rendered !== 'object' || Array.isArray(rendered)) {
          throw new Error(`IML: "${SPREAD}" needs an object, not ${JSON.stringify(rendered)}`);
        }
        Object.assign(result, rendered);
      } else if (rendered !== undefined) {
        result[key] = rendered;
      }
    }
    return result;
  }
  return value;
};

module.exports = { render, evaluate };
