// Zapier's published-app style rules, checked here because the CLI's own
// style check (`zapier-platform validate` without `--without-style`) needs
// Zapier's servers. From Zapier's trigger and publishing documentation and
// its integration checks: a trigger has a singular noun and a label such as
// "New Signup" (an adjective like New or Updated, then the item), both in
// Title Case; its description starts "Triggers when"; labels are in Title
// Case and readable (no "Zip Zip ID"); help text links are Markdown links;
// the API key's help says where to find it, with a link. Each function
// returns a list of readable violations (empty when all is well).
'use strict';

const fs = require('fs');

// Words Title Case writes in lower case inside a label.
const MINOR = new Set([
  'a', 'an', 'the', 'and', 'but', 'or', 'nor', 'for', 'so', 'yet', 'as', 'at', 'by', 'in', 'of', 'off',
  'on', 'per', 'to', 'up', 'via', 'vs', 'from', 'into', 'with', 'than',
]);
const LABEL_PREFIXES = ['New ', 'Updated ', 'Deleted '];

/** Why `label` is not in Title Case ('' when it is). */
const titleCaseProblem = (label) => {
  const words = String(label).trim().split(/\s+/);
  for (const [i, word] of words.entries()) {
    const first = word.match(/[A-Za-z]/);
    if (!first || /^[^A-Za-z]*\d/.test(word)) continue; // "8601", "(ISO"
    const bare = word.replace(/[^A-Za-z]/g, '').toLowerCase();
    const inside = i > 0 && i < words.length - 1;
    if (inside && MINOR.has(bare) && !word.startsWith('(')) {
      if (first[0] !== first[0].toLowerCase()) return `"${word}" should be lower case in "${label}"`;
    } else if (first[0] !== first[0].toUpperCase()) {
      return `"${word}" should be capitalised in "${label}"`;
    }
  }
  return '';
};

/** The word repeated next to itself in `label` ("Zip Zip ID" -> "Zip"), or ''. */
const repeatedWord = (label) => {
  const match = String(label).match(/\b([A-Za-z0-9]+)\b[^A-Za-z0-9]+\b\1\b/i);
  return match ? match[1] : '';
};

const labelProblems = (where, label) => {
  const problems = [];
  if (typeof label !== 'string' || label.trim().length < 2) return [`${where}: no label`];
  const casing = titleCaseProblem(label);
  if (casing) problems.push(`${where}: not Title Case: ${casing}`);
  const repeated = repeatedWord(label);
  if (repeated) problems.push(`${where}: "${label}" repeats "${repeated}"`);
  if (/_/.test(label)) problems.push(`${where}: "${label}" reads like a key`);
  return problems;
};

// A URL in running text must be a Markdown link or in backticks (Zapier's
// ZDE001), and every Markdown link must be whole.
const linkProblems = (where, text) => {
  if (!text) return [];
  const problems = [];
  const withoutCode = text.replace(/`[^`]*`/g, '');
  const withoutLinks = withoutCode.replace(/\[[^\]]+\]\((https?:\/\/[^)\s]+)\)/g, '');
  if (/https?:\/\//.test(withoutLinks)) problems.push(`${where}: a URL that is neither a Markdown link nor in backticks`);
  if (/\[[^\]]*\]\s*\((?!https?:\/\/)/.test(withoutCode) || /\[[^\]]*\]\([^)]*$/.test(withoutCode)) {
    problems.push(`${where}: a broken Markdown link`);
  }
  return problems;
};

const isoOf = (seconds) => new Date(seconds * 1000).toISOString();

/** Every violation of one trigger definition (`App.triggers[key]`). */
const triggerProblems = (trigger) => {
  const where = `trigger ${trigger.key}`;
  const problems = [];
  const { noun, display = {}, operation = {} } = trigger;
  problems.push(...labelProblems(`${where} noun`, noun));
  if (typeof noun === 'string' && /^(new|updated|deleted)\b/i.test(noun)) {
    problems.push(`${where}: the noun "${noun}" is the item alone, without New/Updated`);
  }
  problems.push(...labelProblems(`${where} label`, display.label));
  if (typeof display.label === 'string') {
    if (!LABEL_PREFIXES.some((prefix) => display.label.startsWith(prefix))) {
      problems.push(`${where}: the label "${display.label}" should read "New <Item>" (or Updated/Deleted)`);
    }
    if (typeof noun === 'string' && !display.label.includes(noun)) {
      problems.push(`${where}: the label "${display.label}" does not name the noun "${noun}"`);
    }
    if (display.label.length > 64) problems.push(`${where}: the label is longer than 64 characters`);
  }
  const description = display.description || '';
  if (!/^Triggers when \S/.test(description)) {
    problems.push(`${where}: the description should start with "Triggers when": "${description}"`);
  }
  if (!/[.!?]$/.test(description)) problems.push(`${where}: the description is not a full sentence`);
  problems.push(...linkProblems(`${where} description`, description));

  for (const field of operation.inputFields || []) {
    problems.push(...labelProblems(`${where} input ${field.key}`, field.label));
    problems.push(...linkProblems(`${where} input ${field.key} help`, field.helpText));
    for (const choice of field.choices || []) {
      const label = String(choice.label || '');
      if (!/^[A-Z0-9]/.test(label) || /_/.test(label)) {
        problems.push(`${where} input ${field.key}: the choice label "${label}" is not readable (value ${choice.value})`);
      }
      problems.push(...labelProblems(`${where} input ${field.key} choice ${choice.value}`, label));
    }
  }

  const outputs = operation.outputFields || [];
  for (const field of outputs) problems.push(...labelProblems(`${where} output ${field.key}`, field.label));
  const iso = outputs.find((f) => f.key === 'timestamp_iso');
  if (!iso) problems.push(`${where}: no ISO 8601 output field timestamp_iso`);
  else if (iso.type !== 'datetime') problems.push(`${where}: timestamp_iso should be a datetime field`);
  const sample = operation.sample || {};
  if (typeof sample.timestamp === 'number' && sample.timestamp_iso !== isoOf(sample.timestamp)) {
    problems.push(`${where}: the sample's timestamp_iso is not its timestamp in ISO 8601`);
  }
  return problems;
};

/** Every violation of the authentication's fields. */
const authenticationProblems = (authentication) => {
  const problems = [];
  for (const field of authentication.fields || []) {
    const where = `auth field ${field.key}`;
    problems.push(...labelProblems(where, field.label));
    problems.push(...linkProblems(`${where} help`, field.helpText));
    if (field.type === 'password' || /key|token/i.test(field.key)) {
      const help = field.helpText || '';
      if (!/\[[^\]]+\]\(https:\/\/[^)\s]+\)/.test(help)) problems.push(`${where}: the help text has no link`);
      if (!/(find|found|dashboard|settings)/i.test(help)) problems.push(`${where}: the help text does not say where to find it`);
    }
  }
  return problems;
};

/** Width and height of a PNG file, or undefined when it is not one. */
const pngSize = (file) => {
  const bytes = fs.readFileSync(file);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(signature)) return undefined;
  if (bytes.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
};

module.exports = {
  titleCaseProblem,
  repeatedWord,
  triggerProblems,
  authenticationProblems,
  linkProblems,
  pngSize,
};
