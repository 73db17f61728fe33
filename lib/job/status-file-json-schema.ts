/**
 * The status file and final report schemas (./status-file.ts) as JSON Schema, for schema/ (written by
 * bin/export-schema.ts). Apart from the schemas themselves so no handler bundles zod's JSON Schema
 * generator.
 */
import * as z from 'zod/mini';
import { finalReportSchema, statusFileSchema } from './status-file';

const described = (schema: z.ZodMiniType, file: string, title: string, description: string) => ({
  ...z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }),
  $id: `https://github.com/ncaas/ncaas/schema/${file}`,
  title,
  description,
});

/** The JSON Schema files analysis authors and the console can use, by file name under schema/. */
export const statusJsonSchemas = (): Record<string, Record<string, unknown>> => ({
  'status.schema.json': described(
    statusFileSchema,
    'status.schema.json',
    'ncaas dataset status file',
    "A dataset's status file, logs/DATASET_NAME:{label}_STATUS.txt in its job's results folder: NeuroCAAS's layout and types. Written by the worker while it runs and by the control plane before and after it; an analysis may rewrite it with NeuroCAAS's tools.",
  ),
  'final-report.schema.json': described(
    finalReportSchema,
    'final-report.schema.json',
    'ncaas dataset final report',
    "What a worker reports when a dataset ends, logs/DATASET_NAME:{label}_STATUS.final.json: the status file's fields with reason as one string, and the launch's secret.",
  ),
});
