import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  FallbackPriceBook,
  NO_PRICES,
  onDemandHourlyUsd,
  priceFileBook,
  PriceFileBook,
  PricingApiPriceBook,
  type PriceFile,
} from '../../lib/pricing/price-book';

/** One product of GetProducts' PriceList, as the Pricing API returns it (a JSON string). */
const product = (instanceType: string, usd: string) =>
  JSON.stringify({
    product: { attributes: { instanceType, operatingSystem: 'Linux' } },
    terms: {
      OnDemand: {
        'ABC.JRTCKXETXF': {
          priceDimensions: { 'ABC.JRTCKXETXF.6YS6EN2CT7': { unit: 'Hrs', pricePerUnit: { USD: usd } } },
        },
      },
    },
  });

describe('prices for MAXCOST budgets', () => {
  const pricing = mockClient(PricingClient);
  beforeEach(() => pricing.reset());

  test('the Pricing API is asked for Linux, shared tenancy, on-demand in the analysis region, and cached', async () => {
    pricing.on(GetProductsCommand).resolves({ PriceList: [product('m5.xlarge', '0.1920000000')] });
    let now = 0;
    const book = new PricingApiPriceBook('eu-west-1', new PricingClient({ region: 'us-east-1' }), () => now);
    expect(await book.hourly('m5.xlarge')).toEqual({ usd: 0.192, source: 'AWS Pricing API' });
    expect(await book.hourly('m5.xlarge')).toEqual({ usd: 0.192, source: 'AWS Pricing API' });
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 1);
    expect(pricing).toHaveReceivedCommandWith(GetProductsCommand, {
      ServiceCode: 'AmazonEC2',
      Filters: expect.arrayContaining([
        { Type: 'TERM_MATCH', Field: 'regionCode', Value: 'eu-west-1' },
        { Type: 'TERM_MATCH', Field: 'instanceType', Value: 'm5.xlarge' },
        { Type: 'TERM_MATCH', Field: 'operatingSystem', Value: 'Linux' },
        { Type: 'TERM_MATCH', Field: 'tenancy', Value: 'Shared' },
      ]),
    });
    now += 25 * 60 * 60 * 1000; // a day later the cache is refreshed
    await book.hourly('m5.xlarge');
    expect(pricing).toHaveReceivedCommandTimes(GetProductsCommand, 2);
  });

  test('an unknown type has no price rather than a guess', async () => {
    pricing.on(GetProductsCommand).resolves({ PriceList: [] });
    expect(
      await new PricingApiPriceBook('us-east-1', new PricingClient({})).hourly('x9.huge'),
    ).toBeUndefined();
    expect(onDemandHourlyUsd(JSON.stringify({ terms: {} }))).toBeUndefined();
  });

  test('when the API cannot be reached, the generated price file answers and says its date', async () => {
    pricing
      .on(GetProductsCommand)
      .rejects(new Error('getaddrinfo ENOTFOUND api.pricing.us-east-1.amazonaws.com'));
    const errors: unknown[] = [];
    const book = new FallbackPriceBook(
      [
        new PricingApiPriceBook('us-east-1', new PricingClient({})),
        new PriceFileBook({
          generatedAt: '2026-11-01T10:00:00Z',
          region: 'us-east-1',
          hourlyUsd: { 't3.micro': 0.0104 },
        }),
      ],
      (error) => errors.push(error),
    );
    expect(await book.hourly('t3.micro')).toEqual({ usd: 0.0104, source: 'price file of 2026-11-01' });
    expect(errors).toHaveLength(1);
    expect(await NO_PRICES.hourly('t3.micro')).toBeUndefined();
  });
});

describe('priceFileBook: the generated price file, for its own region only', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ncaas-prices-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ec2-prices.json');
  const prices: PriceFile = {
    generatedAt: '2026-11-01T10:00:00Z',
    region: 'eu-west-1',
    hourlyUsd: { 't3.micro': 0.0114 },
  };
  writeFileSync(file, JSON.stringify(prices));

  test('a file for the region answers with its prices and date', async () => {
    expect(await priceFileBook('eu-west-1', file)?.hourly('t3.micro')).toEqual({
      usd: 0.0114,
      source: 'price file of 2026-11-01',
    });
  });

  test("another region's file, or no file, gives no book", () => {
    expect(priceFileBook('us-east-1', file)).toBeUndefined();
    expect(priceFileBook('eu-west-1', path.join(dir, 'missing.json'))).toBeUndefined();
  });
});
