/**
 * CSV as RFC 4180 writes it, and as spreadsheets save it: fields separated by commas, records by
 * CRLF or LF (a lone CR too); a field in double quotes may hold commas, line breaks and doubled
 * quotes (`""` is one `"`). A UTF-8 byte order mark (Excel's "CSV UTF-8") is dropped.
 *
 * Strict where leniency would guess: a quote inside an unquoted field, text after a closing quote
 * and a quote left open are errors naming the row, not fields silently read some other way.
 *
 * Rows are counted as a spreadsheet shows them: the first record is row 1, and a record whose quoted
 * field spans several lines is still one row (`line` says where it starts in a text editor).
 */

export interface CsvRecord {
  /** 1-based record number: what a spreadsheet calls the row. */
  readonly row: number;
  /** 1-based line of the file where the record starts. */
  readonly line: number;
  readonly fields: readonly string[];
}

export type CsvParse =
  | { readonly ok: true; readonly records: readonly CsvRecord[] }
  | { readonly ok: false; readonly row: number; readonly line: number; readonly message: string };

const BOM = '\uFEFF';

export const parseCsv = (input: string): CsvParse => {
  const text = input.startsWith(BOM) ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let row = 1;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  /** The current field started with a quote and has been closed. */
  let closedQuote = false;

  const endField = (): void => {
    fields.push(field);
    field = '';
    closedQuote = false;
  };
  const endRecord = (): void => {
    endField();
    records.push({ row, line: recordLine, fields });
    fields = [];
    row += 1;
  };
  const fail = (message: string, atLine = line): CsvParse => ({ ok: false, row, line: atLine, message });

  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      if (field !== '' || closedQuote) {
        return fail(
          'a double quote (") inside a value that does not start with one: put the whole value in double quotes and double the quote inside it ("")',
        );
      }
      // A quoted field: up to the quote that is not doubled.
      const startLine = line;
      i += 1;
      let closed = false;
      while (i < text.length) {
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          closed = true;
          break;
        }
        if (q === '\n' || (q === '\r' && text[i + 1] !== '\n')) line += 1;
        field += q;
        i += 1;
      }
      if (!closed) {
        return fail('a double quote (") opens a value that never closes: add the closing quote', startLine);
      }
      closedQuote = true;
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\r' && next !== '\n') {
        return fail(
          'text follows a closing double quote: a quoted value must end at the comma or the end of the row',
        );
      }
      continue;
    }
    if (c === ',') {
      endField();
      i += 1;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line += 1;
      recordLine = line;
      continue;
    }
    field += c;
    i += 1;
  }
  // The last record, unless the file ends with a line break.
  if (field !== '' || fields.length > 0 || closedQuote) endRecord();
  return { ok: true, records };
};

/** A record with nothing in it (a blank line, or only commas as a spreadsheet saves an empty row). */
export const isBlankRecord = (record: CsvRecord): boolean => record.fields.every((f) => f.trim() === '');
