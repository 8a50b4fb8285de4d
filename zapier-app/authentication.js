// Custom authentication: the account's Hookbridge API key, sent as
// X-Api-Key; the connection test reads /v1/me and labels the connection
// with the account's name.
'use strict';

const { baseUrl, docsUrl } = require('./lib/config');

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'apiKey',
      label: 'API Key',
      type: 'password',
      required: true,
      // Zapier renders Markdown here: where to find the key, with a link.
      helpText:
        "Your Hookbridge API key (it starts with your product's prefix, e.g. `hb_`). Your product creates " +
        "it for your account: find it in your product's settings or ask its admin. It is also the key you " +
        'sign in with on your Hookbridge dashboard, at `/` of your Hookbridge URL. ' +
        `[How to get your API key](${docsUrl()})`,
    },
  ],
  test: async (z) => {
    const response = await z.request({ url: `${baseUrl()}/v1/me` });
    return response.data;
  },
  connectionLabel: (z, bundle) => bundle.inputData.name || bundle.inputData.id,
};
