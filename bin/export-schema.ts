/**
 * Writes schema/blueprint.schema.json from the one blueprint schema; `--check` fails when the
 * committed file is stale (run in `npm test`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { blueprintJsonSchema } from '../lib/blueprint/blueprint-schema';

const target = path.join(__dirname, '..', 'schema', 'blueprint.schema.json');
const text = `${JSON.stringify(blueprintJsonSchema(), null, 2)}\n`;

if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== text) {
    console.error(
      `${path.relative(process.cwd(), target)} is out of date: run \`npm run schema\` and commit it`,
    );
    process.exit(1);
  }
} else {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, text);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
