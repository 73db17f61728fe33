/**
 * `ncaas costs [--month YYYY-MM] [--group G] [--json]`: what each group spent on the analysis in a
 * month, from the spend files the control plane writes from the job table when a job ends
 * (lib/control/spend-file.ts): one GET per group, never a scan of the results.
 */
import { budgetMonth } from '../job/job-keys';
import { formatUsd } from '../pricing/dataset-cost';
import { readSpendFile, spendFileKey, type SpendFile } from '../control/spend-file';
import { CliError, EXIT } from './errors';
import { groupsToSearch } from './job-folders';
import { mapLimited } from '../map-limited';
import { alignColumns, type Output } from './output';
import type { S3Target } from './s3-target';

export interface CostsOptions {
  readonly month?: string;
  readonly group?: string;
  readonly json?: boolean;
}

/** A group's line; `file` undefined: no job of the group ended that month (nothing spent). */
interface GroupSpend {
  readonly group: string;
  readonly file?: SpendFile;
  /** The file exists but is not a spend file. */
  readonly unreadable?: boolean;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export const parseMonth = (month: string | undefined, now: Date): string => {
  if (month === undefined) return budgetMonth(now);
  if (!MONTH.test(month)) {
    throw new CliError(
      `--month "${month}" is not a month: write it YYYY-MM, e.g. ${budgetMonth(now)}`,
      EXIT.usage,
    );
  }
  return month;
};

const readGroup = async (target: S3Target, group: string, month: string): Promise<GroupSpend> => {
  const text = await target.objects.readText(spendFileKey(group, month));
  if (text === undefined) return { group };
  const file = readSpendFile(text);
  return file === undefined ? { group, unreadable: true } : { group, file };
};

const costCell = (file: SpendFile): string =>
  file.unknown_cost_datasets > 0
    ? `${formatUsd(file.cost_usd)} + ${file.unknown_cost_datasets} unknown`
    : formatUsd(file.cost_usd);

export const renderCostsTable = (month: string, rows: readonly GroupSpend[]): string[] => {
  const header = ['GROUP', 'JOBS', 'DATASETS', 'WORKER HOURS', 'COST', 'MAXCOST', 'SHARE USED'];
  const cells = rows.map(({ group, file, unreadable }) =>
    file === undefined
      ? [group, '0', '0', '0', '$0.0000', '-', unreadable ? 'spend file unreadable' : '-']
      : [
          group,
          String(file.jobs),
          String(file.datasets),
          file.worker_hours.toFixed(2),
          costCell(file),
          file.maxcost_usd === null ? '-' : formatUsd(file.maxcost_usd),
          file.share_used === null ? '-' : `${(file.share_used * 100).toFixed(1)}%`,
        ],
  );
  return [
    `spend in ${month} (jobs submitted that month, as of each group's last job end)`,
    ...alignColumns(header, cells),
  ];
};

export const runCosts = async (
  target: S3Target,
  options: CostsOptions,
  output: Output,
  now: Date = new Date(),
): Promise<number> => {
  const month = parseMonth(options.month, now);
  const groups = await groupsToSearch(target, options.group);
  const rows = await mapLimited(groups, 8, (group) => readGroup(target, group, month));
  if (options.json) {
    output.out(
      JSON.stringify(
        rows.map(({ group, file }) => file ?? { group, month, jobs: 0, datasets: 0, cost_usd: 0 }),
        null,
        2,
      ),
    );
  } else {
    for (const line of renderCostsTable(month, rows)) output.out(line);
  }
  return EXIT.ok;
};
