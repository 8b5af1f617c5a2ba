import { describe, expect, it } from 'vitest';
import { renderTemplate } from '../../../src/plugins/kit/template';
import { cloudEvent } from '../../fixtures/fake-destination';

describe('message templates', () => {
  it('fills attributes, data paths, array indexes and JSON for objects', () => {
    const event = cloudEvent({ tenantregion: 'eu' });
    const text = renderTemplate('{{type}}|{{ subject }}|{{id}}|{{data.order.id}}|{{data.order.items.1}}|{{data.order.items}}|{{tenantregion}}', event);
    expect(text).toBe('orders.created|order-42|evt_01|42|pear|["apple","pear"]|eu');
  });

  it('renders nothing for missing values and never reaches into prototypes', () => {
    expect(renderTemplate('[{{data.nope.deeper}}][{{constructor}}][{{data.order.toString}}][{{subject}}]', cloudEvent({ subject: undefined }))).toBe(
      '[][][][]',
    );
  });
});
