/**
 * Writes the JSON Schema files under schema/ from the zod schemas they come from (the blueprint, the
 * status file and the final report); `--check` fails when a committed file is stale (run in `npm test`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { blueprintJsonSchema } from '../lib/blueprint/blueprint-schema';
import { statusJsonSchemas } from '../lib/job/status-file-json-schema';

const folder = path.join(__dirname, '..', 'schema');
const files: Record<string, Record<string, unknown>> = {
  'blueprint.schema.json': blueprintJsonSchema(),
  ...statusJsonSchemas(),
};
const check = process.argv.includes('--check');
let stale = false;

for (const [name, schema] of Object.entries(files)) {
  const target = path.join(folder, name);
  const text = `${JSON.stringify(schema, null, 2)}\n`;
  if (check) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== text) {
      console.error(
        `${path.relative(process.cwd(), target)} is out of date: run \`npm run schema\` and commit it`,
      );
      stale = true;
    }
  } else {
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(target, text);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
}
if (stale) process.exit(1);
