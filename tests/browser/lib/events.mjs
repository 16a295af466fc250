// Valid events in the reference's shape, with ids and products unique to one test run.
import { randomBytes, randomUUID } from 'node:crypto';

// A product id no other test or run uses: 10 upper-case letters and digits.
export function productId(tag) {
  return (tag + randomBytes(8).toString('hex')).toUpperCase().slice(0, 10);
}

// Newest createdAt first, the order of the history.
export function newestFirst(events) {
  return [...events].sort((x, y) => Date.parse(y.createdAt) - Date.parse(x.createdAt));
}

// createdAt strictly increasing with n, one minute apart, on a fixed day.
export function createdAt(n, base = Date.UTC(2024, 6, 26, 8, 0, 0)) {
  return new Date(base + n * 60000).toISOString();
}

export function priceUpdate(product, n, { region = 'EU', at = createdAt(n) } = {}) {
  return {
    eventId: randomUUID(),
    eventType: 'ProductPriceUpdate',
    productId: product,
    region,
    createdAt: at,
    data: { newPrice: 100 + n, previousPrice: 90 + n },
  };
}

export function countryChange(product, n, country = 'Sweden') {
  return {
    eventId: randomUUID(),
    eventType: 'Country',
    productId: product,
    region: 'EU',
    createdAt: createdAt(n),
    data: { country },
  };
}

export function discountUpdate(product, n) {
  return {
    eventId: randomUUID(),
    eventType: 'SpecificProductDiscountUpdate',
    productId: product,
    region: 'US',
    createdAt: createdAt(n),
    data: { newDiscountPercentage: 15, previousDiscountPercentage: 10 },
  };
}
