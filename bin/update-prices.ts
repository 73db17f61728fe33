/**
 * `npm run prices [-- --region us-east-1]`: writes lib/pricing/ec2-prices.json, the on-demand Linux
 * hourly price of every instance type in a region, from the AWS Pricing API (needs AWS credentials
 * allowed pricing:GetProducts). The handlers ask the Pricing API themselves and fall back to this
 * file, with its date, when it cannot be reached; the local runtime uses only the file.
 */
import { GetProductsCommand, PricingClient } from '@aws-sdk/client-pricing';
import * as fs from 'node:fs';
import { onDemandHourlyUsd, PRICE_FILE, type PriceFile } from '../lib/pricing/price-book';

const regionFlag = process.argv.indexOf('--region');
const region = regionFlag > 0 ? process.argv[regionFlag + 1] : (process.env.AWS_REGION ?? 'us-east-1');

const main = async () => {
  const client = new PricingClient({ region: 'us-east-1' });
  const hourlyUsd: Record<string, number> = {};
  let token: string | undefined;
  do {
    const out = await client.send(
      new GetProductsCommand({
        ServiceCode: 'AmazonEC2',
        Filters: [
          ['regionCode', region],
          ['operatingSystem', 'Linux'],
          ['tenancy', 'Shared'],
          ['preInstalledSw', 'NA'],
          ['capacitystatus', 'Used'],
        ].map(([Field, Value]) => ({ Type: 'TERM_MATCH' as const, Field, Value })),
        NextToken: token,
        MaxResults: 100,
      }),
    );
    for (const entry of (out.PriceList ?? []) as unknown as string[]) {
      const product = JSON.parse(String(entry)) as { product?: { attributes?: { instanceType?: string } } };
      const type = product.product?.attributes?.instanceType;
      const usd = onDemandHourlyUsd(String(entry));
      if (type && usd !== undefined) hourlyUsd[type] = Math.min(hourlyUsd[type] ?? Infinity, usd);
    }
    token = out.NextToken;
  } while (token);
  const file: PriceFile = { generatedAt: new Date().toISOString(), region, hourlyUsd };
  fs.writeFileSync(PRICE_FILE, `${JSON.stringify(file, null, 2)}\n`);
  console.log(`wrote ${Object.keys(hourlyUsd).length} prices for ${region} to ${PRICE_FILE}`);
};

main().catch((error: unknown) => {
  console.error(`ncaas prices: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
