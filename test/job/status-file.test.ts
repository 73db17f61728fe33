import * as z from 'zod';
import {
  readFinalReport,
  readStatusFile,
  reasonText,
  statusFileMembers,
  statusFileSchema,
} from '../../lib/job/status-file';
import { statusJsonSchemas } from '../../lib/job/status-file-json-schema';

describe('status files (lib/job/status-file.ts)', () => {
  it('keeps each field that has its documented type and drops one that does not', () => {
    const read = readStatusFile(
      JSON.stringify({ status: 'SUCCESS', reason: 5, exit_code: 'x', std: { stdout: 'a' }, mine: [1] }),
    );
    expect(read).toEqual({ readable: true, file: { status: 'SUCCESS', std: { stdout: 'a' }, mine: [1] } });
  });

  it.each(['', 'nope', '[1]', 'null', '"SUCCESS"', '{"status":'])('%j is unreadable', (text) => {
    expect(readStatusFile(text)).toEqual({ readable: false });
    expect(readFinalReport(text)).toEqual({ readable: false });
    expect(statusFileMembers(text)).toEqual({});
  });

  it("reads a final report's one-string reason and its hex token; a token that is not hex is dropped", () => {
    expect(readFinalReport('{"status":"FAILED","reason":"exit 2","report_token":"ab12"}')).toEqual({
      readable: true,
      file: { status: 'FAILED', reason: 'exit 2', report_token: 'ab12' },
    });
    const odd = readFinalReport('{"status":"SUCCESS","report_token":"$(rm -rf /)"}');
    expect(odd.readable && odd.file.report_token).toBeUndefined();
  });

  it('keeps every member as written for a merge, whatever its type', () => {
    expect(statusFileMembers('{"reason":5,"mine":{"a":1}}')).toEqual({ reason: 5, mine: { a: 1 } });
    expect(statusFileMembers(undefined)).toEqual({});
  });

  it("joins NeuroCAAS's reason list and skips its empty strings", () => {
    expect(reasonText(['a', '', 'b'])).toBe('a; b');
    expect(reasonText([''])).toBeUndefined();
    expect(reasonText('one')).toBe('one');
    expect(reasonText(undefined)).toBeUndefined();
  });

  it('publishes both files as JSON Schema with every field described', () => {
    const schemas = statusJsonSchemas();
    expect(Object.keys(schemas)).toEqual(['status.schema.json', 'final-report.schema.json']);
    const status = schemas['status.schema.json'] as { properties: Record<string, { description?: string }> };
    expect(Object.keys(status.properties)).toEqual(Object.keys(statusFileSchema.shape));
    const undescribed = Object.entries(status.properties).filter(
      ([, p]) => !p.description && !JSON.stringify(p).includes('"description"'),
    );
    expect(undescribed).toEqual([]);
    expect(z.strictObject(statusFileSchema.shape).safeParse({ status: 'x', extra: 1 }).success).toBe(false);
  });
});
