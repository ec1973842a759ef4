// Validates AsyncAPI documents with @asyncapi/parser: `node validate.mjs FILE...`.
// Prints every diagnostic of severity error and exits non-zero when there is one.
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of errors) {
    console.error(`${file}: ${d.code}: ${d.message} at /${d.path.join('/')}`);
  }
  if (errors.length > 0 || document === undefined) {
    failed = true;
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}`);
  }
}
process.exit(failed ? 1 : 0);
