/** The JSON Schema the schema case registers for `orders.created` (it accepts every benchmark event). */
export const ORDER_SCHEMA = {
  type: 'object',
  required: ['order_id', 'amount', 'currency', 'items'],
  properties: {
    order_id: { type: 'string', pattern: '^ord_' },
    amount: { type: 'number', minimum: 0 },
    currency: { enum: ['EUR', 'USD', 'GBP'] },
    customer: { type: 'object', properties: { id: { type: 'string' }, country: { type: 'string', minLength: 2, maxLength: 2 } } },
    items: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['sku', 'qty'], properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } },
    },
  },
};
