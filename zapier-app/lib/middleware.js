// HTTP middleware: the API key on every request, and Hookbridge's JSON
// error message surfaced as the Zapier error the user sees.
'use strict';

const addApiKey = (request, z, bundle) => {
  request.headers = request.headers || {};
  if (bundle.authData && bundle.authData.apiKey) {
    request.headers['X-Api-Key'] = bundle.authData.apiKey;
  }
  request.headers.Accept = 'application/json';
  return request;
};

const surfaceErrors = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) return response;
  const error = (response.data && response.data.error) || {};
  const message = error.message || `Hookbridge answered ${response.status}`;
  if (response.status === 401) {
    throw new z.errors.Error(`${message}. Check the API key of this connection.`, 'AuthenticationError', 401);
  }
  throw new z.errors.Error(message, error.code || 'HookbridgeError', response.status);
};

module.exports = { addApiKey, surfaceErrors };
