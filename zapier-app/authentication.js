// Custom authentication: the account's Hookbridge API key, sent as
// X-Api-Key; the connection test reads /v1/me and labels the connection
// with the account's name.
'use strict';

const { baseUrl } = require('./lib/config');

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'apiKey',
      label: 'API Key',
      type: 'password',
      required: true,
      helpText: 'Your API key (it starts with your product prefix, e.g. `hb_`).',
    },
  ],
  test: async (z) => {
    const response = await z.request({ url: `${baseUrl()}/v1/me` });
    return response.data;
  },
  connectionLabel: (z, bundle) => bundle.inputData.name || bundle.inputData.id,
};
