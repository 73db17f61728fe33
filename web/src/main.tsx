/** The console's entry: reads config.json (lib/console/console-config.ts) beside the page, then the app. */
import { render } from 'preact';
import { consoleConfigSchema } from '../../lib/console/console-config';
import { App } from './app';

const root = document.getElementById('app') as HTMLElement;
// The page's "Loading…" placeholder is plain HTML: cleared so the app does not render beside it.
const start = (content: preact.ComponentChild): void => {
  root.textContent = '';
  render(content, root);
};

const fail = (message: string): void => {
  start(
    <main>
      <h1>The console could not start</h1>
      <p role="alert">{message}</p>
    </main>,
  );
};

fetch('config.json', { cache: 'no-store' })
  .then(async (response) => {
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
    const parsed = consoleConfigSchema.safeParse(await response.json());
    if (!parsed.success)
      throw new Error(`config.json is not a console configuration: ${parsed.error.message}`);
    start(<App config={parsed.data} />);
  })
  .catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
