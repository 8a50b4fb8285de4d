// Make's app review rules for names, labels and help, as its custom apps
// documentation gives them (best practices: names, labels and descriptions;
// processing of output parameters; app review prerequisites): module labels
// in sentence case, "Watch <items>" with a plural noun for triggers,
// descriptions "Triggers when ...", every label in sentence case and
// readable, dates parsed as dates (ISO 8601), the API key's help with a
// link. Each function returns readable violations (empty when all is well).
'use strict';

const fs = require('fs');

const { PROPER_NOUNS } = require('../../tools/catalog');

/** Why `label` is not in sentence case ('' when it is). */
const sentenceCaseProblem = (label) => {
  const words = String(label).trim().split(/\s+/);
  const firstLetter = String(label).match(/[A-Za-z0-9]/);
  if (!firstLetter || firstLetter[0] !== firstLetter[0].toUpperCase()) return `"${label}" should start with a capital`;
  for (const word of words.slice(1)) {
    const bare = word.replace(/[^A-Za-z0-9]/g, '');
    if (!bare || !/^[A-Z]/.test(bare)) continue;
    const acronym = bare.length > 1 && bare === bare.toUpperCase();
    const mixed = /[a-z][A-Z]/.test(bare);
    if (!acronym && !mixed && !PROPER_NOUNS.has(bare.toLowerCase())) {
      return `"${word}" should be lower case in "${label}"`;
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
  if (typeof label !== 'string' || !label.trim()) return [`${where}: no label`];
  const problems = [];
  const casing = sentenceCaseProblem(label);
  if (casing) problems.push(`${where}: not sentence case: ${casing}`);
  const repeated = repeatedWord(label);
  if (repeated) problems.push(`${where}: "${label}" repeats "${repeated}"`);
  if (/_/.test(label)) problems.push(`${where}: "${label}" reads like a key`);
  return problems;
};

/** Every violation of a list of parameters or interface items, nested ones included. */
const parameterProblems = (where, parameters) =>
  (parameters || []).flatMap((item) => {
    if (typeof item === 'string') return [];
    const here = `${where} ${item.name}`;
    const problems = labelProblems(here, item.label);
    for (const option of item.options || []) {
      const label = String(option.label || '');
      if (!/^[A-Z0-9]/.test(label) || /_/.test(label)) {
        problems.push(`${here}: the option label "${label}" is not readable (value ${option.value})`);
      } else {
        problems.push(...labelProblems(`${here} option ${option.value}`, label));
      }
    }
    return [...problems, ...parameterProblems(here, item.spec)];
  });

/** Every violation of one module (its manifest entry and its interface). */
const moduleProblems = (id, module, files) => {
  const where = `module ${id}`;
  const problems = labelProblems(where, module.label);
  if (module.moduleType === 'instant_trigger' || module.moduleType === 'trigger') {
    const match = String(module.label).match(/^Watch (?:(?:new|updated|deleted|all|[a-z-]+ed|paid|sent|done) )?(.+)$/);
    if (!match) problems.push(`${where}: a trigger's label reads "Watch <items>": "${module.label}"`);
    else if (!/s$/.test(match[1])) problems.push(`${where}: the items in "${module.label}" should be plural`);
    if (!/^Triggers when \S.*[.!?]$/.test(module.description || '')) {
      problems.push(`${where}: the description should read "Triggers when ...": "${module.description}"`);
    }
  }
  problems.push(...parameterProblems(`${where} interface`, files.interface));
  problems.push(...parameterProblems(`${where} static parameter`, files.staticParams));
  const iso = (files.interface || []).find((item) => item.name === 'timestamp_iso');
  if (!iso) problems.push(`${where}: no ISO 8601 date timestamp_iso in the interface`);
  else if (iso.type !== 'date') problems.push(`${where}: timestamp_iso should be of type date`);
  const sample = files.samples || {};
  if (typeof sample.timestamp === 'number' && sample.timestamp_iso !== new Date(sample.timestamp * 1000).toISOString()) {
    problems.push(`${where}: the sample's timestamp_iso is not its timestamp in ISO 8601`);
  }
  return problems;
};

/** The API key's help: where to find the key, with a Markdown link. */
const apiKeyHelpProblems = (parameters) =>
  (parameters || [])
    .filter((p) => p.type === 'password' || /key|token/i.test(p.name))
    .flatMap((p) => {
      const problems = [];
      if (!/\[[^\]]+\]\(https:\/\/[^)\s]+\)/.test(p.help || '')) problems.push(`connection ${p.name}: the help has no link`);
      if (!/(find|found|dashboard|settings)/i.test(p.help || '')) {
        problems.push(`connection ${p.name}: the help does not say where to find it`);
      }
      return problems;
    });

/** Width, height and colour type of a PNG file, or undefined when it is not one. */
const pngInfo = (file) => {
  const bytes = fs.readFileSync(file);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length < 26 || !bytes.subarray(0, 8).equals(signature)) return undefined;
  if (bytes.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), alpha: bytes[25] === 6 || bytes[25] === 4 };
};

module.exports = {
  sentenceCaseProblem,
  repeatedWord,
  labelProblems,
  parameterProblems,
  moduleProblems,
  apiKeyHelpProblems,
  pngInfo,
};
