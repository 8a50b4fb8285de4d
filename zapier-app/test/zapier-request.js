// Shapes a delivery the way Zapier hands hook requests to `perform`.
'use strict';

// The request as Zapier hands it to `perform`: the exact body as `content`,
// headers renamed to `Http-` Title-Case.
const asZapierRawRequest = (delivery) => ({
  method: 'POST',
  querystring: '',
  content: delivery.body,
  headers: Object.fromEntries(
    Object.entries(delivery.headers).map(([name, value]) => [
      `Http-${name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('-')}`,
      value,
    ])
  ),
});

module.exports = { asZapierRawRequest };
