/**
 * What a group spent in a month: the control plane counts each ended dataset and job in the job
 * table and writes `{group}/results/spend-YYYY-MM.json`; `ncaas costs` reads those files.
 */
import { runCosts } from '../../lib/cli/costs-command';
import { EXIT } from '../../lib/cli/errors';
import { targetFromClient } from '../../lib/cli/s3-target';
import { readSpendFile, spendFileKey } from '../../lib/control/spend-file';
import { budgetMonth } from '../../lib/job/job-keys';
import { captureOutput } from '../support/captured-output';
import {
  type ControlEmulators,
  newControl,
  startControlEmulators,
  submitJson,
} from '../support/control-harness';

let emulators: ControlEmulators;

beforeAll(async () => {
  emulators = await startControlEmulators();
});

afterAll(async () => {
  await emulators.stop();
});

test("each group's month: jobs, datasets, worker hours and cost, matching the sum of its jobs", async () => {
  const h = await newControl(emulators, 'spend', { deployLimit: 5, maxCost: 10 });
  await h.put('lab/inputs/a.zip');
  await h.put('lab/inputs/b.zip');
  await h.put('lab/configs/config.yaml', '__duration__: 30\n');
  await h.put('lab2/inputs/c.zip');

  expect(
    (await h.submit('lab', 'one', submitJson('lab', 'one', ['lab/inputs/a.zip', 'lab/inputs/b.zip']))).kind,
  ).toBe('accepted');
  expect((await h.submit('lab', 'two', submitJson('lab', 'two', 'lab/inputs/a.zip'))).kind).toBe('accepted');
  await h.deliverLaunches();
  h.clock.advanceSeconds(10 * 60);
  await h.finishWorker('lab', 'one', 'a.zip', { status: 'SUCCESS', exit_code: 0 });
  const month = budgetMonth(h.clock.now());
  // A job not ended yet is not in the file (it has none until a job ends).
  expect(await h.read(spendFileKey('lab', month))).toBeUndefined();
  h.clock.advanceSeconds(20 * 60);
  await h.finishWorker('lab', 'one', 'b.zip', { status: 'FAILED', exit_code: 2 });
  await h.finishWorker('lab', 'two', 'a.zip', { status: 'SUCCESS', exit_code: 0 });

  const datasets = [
    ...((await h.job('lab', 'one'))?.datasets ?? []),
    ...((await h.job('lab', 'two'))?.datasets ?? []),
  ];
  const costs = datasets.map((d) => d.actualCostUsd ?? Number.NaN);
  expect(costs.every((c) => c > 0)).toBe(true);
  const sum = costs.reduce((a, b) => a + b, 0);

  const file = readSpendFile((await h.read(spendFileKey('lab', month))) ?? '');
  expect(file).toMatchObject({
    analysis: h.analysis,
    group: 'lab',
    month,
    jobs: 2,
    datasets: 3,
    // 10 + 30 + 30 minutes, launch to end.
    worker_hours: Number((70 / 60).toFixed(3)),
    unknown_cost_datasets: 0,
    maxcost_usd: 10,
  });
  expect(file?.cost_usd).toBeCloseTo(sum, 6);
  // Nothing else is running or queued: what is committed against MAXCOST is what was spent.
  expect(file?.committed_usd).toBeCloseTo(sum, 6);
  expect(file?.share_used).toBeCloseTo(sum / 10, 4);

  const target = targetFromClient(emulators.s3.client, h.bucket, h.analysis);
  const io = captureOutput();
  expect(await runCosts(target, { month }, io.output, h.clock.now())).toBe(EXIT.ok);
  const lines = io.stdout().trimEnd().split('\n');
  expect(lines[1]).toMatch(/^GROUP\s+JOBS\s+DATASETS\s+WORKER HOURS\s+COST\s+MAXCOST\s+SHARE USED$/);
  expect(lines.find((l) => l.startsWith('lab '))).toMatch(
    new RegExp(
      `^lab\\s+2\\s+3\\s+1\\.17\\s+\\$${sum.toFixed(4).replace('.', '\\.')}\\s+\\$10\\.00\\s+\\d+\\.\\d%$`,
    ),
  );
  // A group with no job ended that month spent nothing.
  expect(lines.find((l) => l.startsWith('lab2 '))).toMatch(/^lab2\s+0\s+0\s+0\s+\$0\.0000\s+-\s+-$/);

  const json = captureOutput();
  await runCosts(target, { month, group: 'lab', json: true }, json.output);
  expect(JSON.parse(json.stdout())).toEqual([file]);
});

test.each(['2026-13', '26-01', 'December', '2026-1', '$(id)'])(
  '--month %j is refused, naming the form',
  async (month) => {
    const h = await newControl(emulators, 'spend-bad');
    const target = targetFromClient(emulators.s3.client, h.bucket, h.analysis);
    await expect(runCosts(target, { month, group: 'lab' }, captureOutput().output)).rejects.toThrow(
      /--month .* is not a month: write it YYYY-MM/,
    );
  },
);
