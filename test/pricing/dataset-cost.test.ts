import {
  costStatusFields,
  datasetCost,
  formatUsd,
  GP3_USD_PER_GIB_MONTH,
  jobCostText,
} from '../../lib/pricing/dataset-cost';

const price = { usd: 0.526, source: 'price file of 2026-11-01' }; // g4dn.xlarge, us-east-1
const launchedAt = '2026-12-07T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(launchedAt) + seconds * 1000);

describe('what a dataset cost (lib/pricing/dataset-cost.ts)', () => {
  it('bills launch to end per second, plus the gp3 root volume prorated over the same time', () => {
    const cost = datasetCost({
      instanceType: 'g4dn.xlarge',
      launchedAt,
      endedAt: at(3600 + 0.2),
      rootVolumeGiB: 130,
      price,
    });
    expect(cost).toMatchObject({ known: true, billedSeconds: 3601, hourlyUsd: 0.526 });
    if (!cost.known) throw new Error('known');
    expect(cost.computeUsd).toBeCloseTo((0.526 * 3601) / 3600, 6);
    expect(cost.volumeUsd).toBeCloseTo((130 * GP3_USD_PER_GIB_MONTH * 3601) / (730 * 3600), 6);
    expect(cost.usd).toBeCloseTo(cost.computeUsd + cost.volumeUsd, 6);
  });

  it('bills at least one minute, however short the run (and a clock that went backwards)', () => {
    for (const seconds of [0, 5, 59, -30]) {
      const cost = datasetCost({ instanceType: 't3.micro', launchedAt, endedAt: at(seconds), price });
      expect(cost).toMatchObject({ known: true, billedSeconds: 60, volumeUsd: 0 });
    }
  });

  it('a dataset never launched cost nothing, and says so (known 0, not unknown)', () => {
    expect(datasetCost({ instanceType: 'p3.2xlarge', endedAt: at(99), price: undefined })).toMatchObject({
      known: true,
      usd: 0,
      billedSeconds: 0,
    });
  });

  it('an unknown price or a runtime it cannot compute is "unknown" with the reason, never 0', () => {
    const noPrice = datasetCost({ instanceType: 'x9.huge', launchedAt, endedAt: at(600), price: undefined });
    expect(noPrice).toEqual({
      known: false,
      reason: expect.stringContaining('no price is known for x9.huge'),
    });
    expect(costStatusFields(noPrice)).toEqual({
      cost_usd: 'unknown',
      cost: { unknown_reason: expect.stringContaining('x9.huge') },
    });
    const batch = datasetCost({
      instanceType: 'optimal',
      launchedAt,
      endedAt: at(600),
      price,
      notComputable: 'AWS Batch chose the instance',
    });
    expect(batch).toEqual({ known: false, reason: 'AWS Batch chose the instance' });
    expect(
      datasetCost({ instanceType: 't3.micro', launchedAt: 'yesterday', endedAt: at(1), price }).known,
    ).toBe(false);
  });

  it('writes the computation into the status file so a person can check it', () => {
    const cost = datasetCost({
      instanceType: 't3.micro',
      launchedAt,
      endedAt: at(120),
      rootVolumeGiB: 30,
      price,
    });
    expect(costStatusFields(cost)).toEqual({
      cost_usd: expect.any(Number),
      cost: {
        instance_type: 't3.micro',
        hourly_usd: 0.526,
        price_source: 'price file of 2026-11-01',
        launched: launchedAt,
        ended: at(120).toISOString(),
        billed_seconds: 120,
        compute_usd: expect.any(Number),
        root_volume_gib: 30,
        volume_usd: expect.any(Number),
      },
    });
  });

  it("sums a job's datasets, saying how many are unknown", () => {
    expect(jobCostText([0.01, 0.0234])).toBe('$0.0334');
    expect(jobCostText([0.01, undefined, undefined])).toBe('$0.0100 + unknown for 2 datasets');
    expect(jobCostText([undefined])).toBe('unknown');
    expect(jobCostText([1.234, 2])).toBe('$3.23');
    expect(formatUsd(0)).toBe('$0.0000');
  });
});
