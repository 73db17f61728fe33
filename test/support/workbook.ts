/**
 * Excel workbooks for job-list tests, written by write-excel-file (a devDependency) the way a
 * spreadsheet saves them: zipped XML, strings shared, numbers and dates typed.
 */
import writeXlsxFile, { type SheetData } from 'write-excel-file/node';

export type { SheetData };

/** A workbook of the given sheets, the first read as the job list. */
export const workbook = async (...sheets: SheetData[]): Promise<Buffer> =>
  sheets.length === 1
    ? writeXlsxFile(sheets[0]).toBuffer()
    : writeXlsxFile(sheets.map((data, i) => ({ data, sheet: `Sheet${i + 1}` }))).toBuffer();

/** A sheet of text rows, as typed (an empty string is an empty cell). */
export const textSheet = (rows: readonly (readonly string[])[]): SheetData =>
  rows.map((row) => row.map((value) => (value === '' ? null : value)));

/**
 * A sheet of `rows` lines of repetitive notes: its XML is several hundred KiB and compresses well,
 * which sends fflate's unzip to its worker (it inflates entries of 512 KiB or more off the main thread).
 */
export const notesSheet = (rows: number): SheetData =>
  Array.from({ length: rows }, (_, i) => [`note ${i}`, 'recorded on rig 2, session notes follow']);
