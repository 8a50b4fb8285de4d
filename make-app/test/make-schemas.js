// Make's official app JSON Schemas (vendor/make-apps-sdk-schemas, MIT)
// loaded into ajv, and Make's association of app file names to them.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const SCHEMAS = path.join(__dirname, '..', 'vendor', 'make-apps-sdk-schemas');

const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false, validateFormats: false });
for (const file of fs.readdirSync(SCHEMAS).filter((f) => f.endsWith('.json') && f !== 'associations.json')) {
  ajv.addSchema(JSON.parse(fs.readFileSync(path.join(SCHEMAS, file), 'utf8')), file);
}
const associations = JSON.parse(fs.readFileSync(path.join(SCHEMAS, 'associations.json'), 'utf8'));

const globToRegExp = (glob) =>
  new RegExp(`(^|/)${glob.replace(/\*\*\//g, '(.*/)?').replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);

// The schema an app file must satisfy; static parameters are parameter lists
// like `*.params.iml.json`.
const schemaFor = (file) => {
  if (file.endsWith('.static-params.iml.json')) return 'parameters.json';
  const hits = associations.filter((a) => a.fileMatch.some((glob) => globToRegExp(glob).test(file)));
  return hits.length ? hits[hits.length - 1].schema : undefined;
};

module.exports = { ajv, schemaFor };
