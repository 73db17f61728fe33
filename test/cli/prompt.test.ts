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
