/** `ncaas login`'s questions when stdin is not a terminal: one answer per line, in order. */
import { PassThrough, Readable } from 'node:stream';
import { createPrompter } from '../../lib/cli/prompt';

const asked = () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { out, text: () => text };
};

test('answers are the lines of stdin, in order; questions go to the given stream', async () => {
  const { out, text } = asked();
  const prompter = createPrompter(Readable.from(['first\nsec', 'ond\r\nthird\n']), out);
  expect(await prompter.ask('Password: ', { secret: true })).toBe('first');
  expect(await prompter.ask('New: ')).toBe('second');
  expect(await prompter.ask('Again: ')).toBe('third');
  prompter.close();
  expect(text()).toBe('Password: \nNew: \nAgain: \n');
});

test('stdin that ends before the answer: a usage error naming the question', async () => {
  const prompter = createPrompter(Readable.from(['only one\n']), asked().out);
  await prompter.ask('Password: ');
  await expect(prompter.ask('Code from your authenticator app: ')).rejects.toThrow(
    'no answer to "Code from your authenticator app:": stdin ended',
  );
});

test('a huge line is refused, not used as a password', async () => {
  const prompter = createPrompter(Readable.from([`${'x'.repeat(5000)}\n`]), asked().out);
  await expect(prompter.ask('Password: ')).rejects.toThrow('that answer is too long');
});

/** A terminal: raw mode recorded, keys typed as chunks. */
class FakeTerminal extends PassThrough {
  isTTY = true;
  raw: boolean[] = [];
  setRawMode(mode: boolean): this {
    this.raw.push(mode);
    return this;
  }
}

describe('on a terminal', () => {
  const typed = (terminal: FakeTerminal, ...chunks: string[]) => {
    setImmediate(() => chunks.forEach((chunk) => terminal.write(chunk)));
  };

  test('a secret is not echoed; backspace edits; raw mode is restored', async () => {
    const terminal = new FakeTerminal();
    const { out, text } = asked();
    const prompter = createPrompter(terminal, out);
    typed(terminal, 'pass', 'x\u007fword\r');
    expect(await prompter.ask('Password: ', { secret: true })).toBe('password');
    expect(text()).toBe('Password: \n');
    expect(terminal.raw).toEqual([true, false]);
  });

  test('an answer that is not secret is echoed', async () => {
    const terminal = new FakeTerminal();
    const { out, text } = asked();
    typed(terminal, '123456\r');
    expect(await createPrompter(terminal, out).ask('Code: ')).toBe('123456');
    expect(text()).toBe('Code: 123456\n');
  });

  test('two answers pasted at once: the second is kept for the next question', async () => {
    const terminal = new FakeTerminal();
    const prompter = createPrompter(terminal, asked().out);
    typed(terminal, 'first one\r\nsecond one\r');
    expect(await prompter.ask('New password: ', { secret: true })).toBe('first one');
    expect(await prompter.ask('Again: ', { secret: true })).toBe('second one');
  });

  test.each([
    ['Ctrl-C', '\u0003', 'cancelled'],
    ['Ctrl-D on an empty line', '\u0004', 'cancelled'],
    ['a huge paste', 'y'.repeat(2000), 'that answer is too long'],
  ])('%s ends the question with raw mode restored', async (_what, keys, message) => {
    const terminal = new FakeTerminal();
    typed(terminal, keys);
    await expect(createPrompter(terminal, asked().out).ask('Password: ', { secret: true })).rejects.toThrow(
      message,
    );
    expect(terminal.raw).toEqual([true, false]);
  });

  test('the terminal closing ends the question', async () => {
    const terminal = new FakeTerminal();
    setImmediate(() => terminal.end());
    await expect(createPrompter(terminal, asked().out).ask('Password: ')).rejects.toThrow('stdin ended');
    expect(terminal.raw).toEqual([true, false]);
  });
});
