import { lineAndColumn, parseJsonText } from '../../lib/submission/json-text';

const detailOf = (text: string): string => {
  const result = parseJsonText(text);
  if (result.ok) throw new Error('expected a parse error');
  return result.detail;
};

describe('JSON errors say where', () => {
  test('valid JSON parses', () => {
    expect(parseJsonText('{"a": [1, "x"]}')).toEqual({ ok: true, value: { a: [1, 'x'] } });
  });

  test('an error V8 reports by position', () => {
    expect(detailOf('{\n  "a": 1\n  "b": 2\n}')).toMatch(
      /^line 3, column 3: expected ',' or '}' after property value/,
    );
  });

  test('an unexpected token deep in a long text (V8 echoes context instead of a position)', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `  "k${i}": ${i},`);
    const text = `{\n${lines.join('\n')}\n  "x": }\n`;
    expect(detailOf(text)).toBe("line 32, column 8: unexpected token '}'");
  });

  test('an unexpected token in the middle of a long text', () => {
    const text = `{"aaaaaaaaaaaaaaa": 1,\n "b": tru, "ccccccccccccccccccccccccc": 2}`;
    expect(detailOf(text)).toBe("line 2, column 10: unexpected token ','");
  });

  test('an unexpected token near the start of a long text', () => {
    expect(detailOf('{"a": x, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb": 1}')).toBe(
      "line 1, column 7: unexpected token 'x'",
    );
  });

  test('an unexpected token in a short text that occurs once', () => {
    expect(detailOf('{"a": }')).toBe("line 1, column 7: unexpected token '}'");
  });

  test('a text that ends too early', () => {
    expect(detailOf('{"a": [1, 2')).toContain('ends too early, at line 1');
    expect(detailOf('{\n "a": 1\n\n')).toContain('ends too early, at line 2');
  });

  test('the parser echo of the source and any stack stay out', () => {
    const detail = detailOf('{"a": nope}');
    expect(detail).not.toContain('is not valid JSON');
    expect(detail).not.toContain('SyntaxError');
  });

  test('lineAndColumn is 1-based', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
