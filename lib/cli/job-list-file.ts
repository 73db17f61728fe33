/**
 * A job list file's bytes read, whichever way a spreadsheet saved it: CSV UTF-8, or an Excel
 * workbook (.xlsx, its first sheet). No file system and no S3, so `ncaas submit --csv`
 * (./bulk-submit.ts) and the web console read a file the same way; the rows and their problems are
 * then ./job-list.ts's, word for word.
 */
import type { CsvRecord } from './csv-text';
import { MAX_CSV_BYTES, readJobList, readJobRecords, type JobList } from './job-list';

export type JobListRead =
  { readonly ok: true; readonly list: JobList } | { readonly ok: false; readonly message: string };

/** The file types a job list may be, for a file picker's `accept`. */
export const JOB_LIST_ACCEPT =
  '.csv,text/csv,.xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const startsWith = (bytes: Uint8Array, magic: readonly number[]): boolean =>
  magic.every((byte, i) => bytes[i] === byte);

/** An .xlsx workbook is a zip archive. */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** The old binary .xls (and .doc) container. */
const OLE_MAGIC = [0xd0, 0xcf, 0x11, 0xe0];

const SAVE_AS = 'save it from the spreadsheet as "Excel Workbook (.xlsx)" or "CSV UTF-8" (comma-delimited)';

/** A cell as the text a CSV of the same sheet would hold. */
const cellText = (cell: unknown): string => {
  if (cell === null || cell === undefined) return '';
  if (cell instanceof Date) return cell.toISOString();
  if (typeof cell === 'boolean') return cell ? 'TRUE' : 'FALSE';
  return String(cell);
};

/**
 * A sheet's rows as records numbered as the spreadsheet shows them. Rows before the header and
 * columns empty in every row are dropped, so a table placed at B3 reads like one at A1.
 */
const sheetRecords = (cells: readonly (readonly unknown[])[]): CsvRecord[] => {
  const text = cells.map((row) => row.map(cellText));
  const used = new Set<number>();
  for (const row of text) row.forEach((value, column) => value.trim() !== '' && used.add(column));
  const columns = [...used].sort((a, b) => a - b);
  const first = text.findIndex((row) => row.some((value) => value.trim() !== ''));
  return text
    .map((row, index) => ({ row: index + 1, line: index + 1, fields: columns.map((c) => row[c] ?? '') }))
    .slice(Math.max(first, 0));
};

const readWorkbook = async (bytes: Uint8Array): Promise<JobListRead> => {
  // Loaded only for a workbook: CSV users and the CLI's start-up never pay for the unzip and XML parser.
  const { readSheet } = await import('read-excel-file/universal');
  let cells: readonly (readonly unknown[])[];
  try {
    // A copy: a Node Buffer may be a view on a larger shared pool, and the reader takes whole ArrayBuffers.
    cells = await readSheet(new Uint8Array(bytes).buffer);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, message: `is not a readable Excel workbook (${reason}): ${SAVE_AS}` };
  }
  return { ok: true, list: readJobRecords(sheetRecords(cells)) };
};

/**
 * Reads a job list from its bytes; a message (without the file's name, which the caller prefixes)
 * says what to do when it is neither CSV UTF-8 nor a readable .xlsx.
 */
export const readJobListBytes = async (bytes: Uint8Array): Promise<JobListRead> => {
  if (bytes.byteLength > MAX_CSV_BYTES) {
    return { ok: false, message: `is too large: a job list may be at most ${MAX_CSV_BYTES} bytes` };
  }
  if (startsWith(bytes, ZIP_MAGIC)) return readWorkbook(bytes);
  if (startsWith(bytes, OLE_MAGIC)) {
    return { ok: false, message: `is an old-style .xls workbook, which is not read: ${SAVE_AS}` };
  }
  try {
    return { ok: true, list: readJobList(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
  } catch {
    return { ok: false, message: `is neither UTF-8 text nor an .xlsx workbook: ${SAVE_AS}` };
  }
};
