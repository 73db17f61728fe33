/**
 * On-demand hourly prices of instance types, for MAXCOST budgets. Prices come from the AWS Pricing
 * API (cached in memory for a day), else from a price file generated from that API by
 * `npm run prices` (with its date), never from a hand-typed table. When neither knows a type, the
 * price is unknown and the caller says so to the user instead of guessing.
 */
import type { PricingClient } from '@aws-sdk/client-pricing';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HourlyPrice {
  readonly usd: number;
  /** Where it came from, for the certificate: "AWS Pricing API" or "price file of 2026-11-01". */
  readonly source: string;
}

export interface PriceBook {
  hourly(instanceType: string): Promise<HourlyPrice | undefined>;
}

/** The generated price file's shape (bin/update-prices.ts). */
export interface PriceFile {
  readonly generatedAt: string;
  readonly region: string;
  readonly hourlyUsd: Readonly<Record<string, number>>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The Pricing API's filter for Linux, shared tenancy, no pre-installed software, on-demand use. */
export const priceFilters = (region: string, instanceType: string) =>
  [
    ['regionCode', region],
    ['instanceType', instanceType],
    ['operatingSystem', 'Linux'],
    ['tenancy', 'Shared'],
    ['preInstalledSw', 'NA'],
    ['capacitystatus', 'Used'],
  ].map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field, Value }));

/** The USD price per hour in one PriceList entry of GetProducts (a JSON string). */
export const onDemandHourlyUsd = (priceListEntry: string): number | undefined => {
  const product = JSON.parse(priceListEntry) as {
    terms?: {
      OnDemand?: Record<
        string,
        { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: { USD?: string } }> }
      >;
    };
  };
  for (const term of Object.values(product.terms?.OnDemand ?? {})) {
    for (const dimension of Object.values(term.priceDimensions ?? {})) {
      const usd = Number(dimension.pricePerUnit?.USD);
      if (dimension.unit === 'Hrs' && Number.isFinite(usd) && usd > 0) return usd;
    }
  }
  return undefined;
};

export class PricingApiPriceBook implements PriceBook {
  private readonly cache = new Map<string, { price: HourlyPrice | undefined; at: number }>();

  constructor(
    private readonly region: string,
    private client?: PricingClient,
    private readonly now: () => number = Date.now,
  ) {}

  async hourly(instanceType: string): Promise<HourlyPrice | undefined> {
    const cached = this.cache.get(instanceType);
    if (cached && this.now() - cached.at < DAY_MS) return cached.price;
    // Loaded on the first lookup: a handler that never prices a job never loads the Pricing client.
    const { GetProductsCommand, PricingClient } = await import('@aws-sdk/client-pricing');
    // The Pricing API is served from us-east-1 (and two other regions) whatever the analysis region.
    this.client ??= new PricingClient({ region: 'us-east-1' });
    const out = await this.client.send(
      new GetProductsCommand({
        ServiceCode: 'AmazonEC2',
        Filters: priceFilters(this.region, instanceType),
        MaxResults: 10,
      }),
    );
    // The SDK types PriceList loosely; each entry is one product as a JSON string.
    const entries = (out.PriceList ?? []) as unknown as string[];
    const prices = entries
      .map((entry) => onDemandHourlyUsd(String(entry)))
      .filter((p): p is number => p !== undefined);
    const price = prices.length > 0 ? { usd: Math.min(...prices), source: 'AWS Pricing API' } : undefined;
    this.cache.set(instanceType, { price, at: this.now() });
    return price;
  }
}

export class PriceFileBook implements PriceBook {
  constructor(private readonly file: PriceFile) {}

  async hourly(instanceType: string): Promise<HourlyPrice | undefined> {
    const usd = this.file.hourlyUsd[instanceType];
    return usd === undefined
      ? undefined
      : { usd, source: `price file of ${this.file.generatedAt.slice(0, 10)}` };
  }
}

/** The first book that knows a price; a book that fails (no network, no permission) is skipped. */
export class FallbackPriceBook implements PriceBook {
  constructor(
    private readonly books: readonly PriceBook[],
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  async hourly(instanceType: string): Promise<HourlyPrice | undefined> {
    for (const book of this.books) {
      try {
        const price = await book.hourly(instanceType);
        if (price) return price;
      } catch (error) {
        this.onError(error);
      }
    }
    return undefined;
  }
}

/** Where `npm run prices` writes the generated file (and where a bundled handler finds its copy). */
export const PRICE_FILE = path.join(__dirname, 'ec2-prices.json');

/** The generated price file, when there is one (next to this module, or next to a bundled handler). */
export const loadPriceFile = (candidates: readonly string[] = [PRICE_FILE]): PriceFile | undefined => {
  for (const file of candidates) {
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as PriceFile;
  }
  return undefined;
};

/**
 * The generated price file's book, when the file exists and is for `region`: another region's prices
 * would misstate a MAXCOST budget, so then there is none.
 */
export const priceFileBook = (region: string, file: string = PRICE_FILE): PriceFileBook | undefined => {
  const prices = loadPriceFile([file]);
  return prices?.region === region ? new PriceFileBook(prices) : undefined;
};

/** A book that knows nothing (the local runtime: no AWS to ask). */
export const NO_PRICES: PriceBook = { hourly: async () => undefined };
