// Prints one line per synthesized stack: resources and the cdk-nag result, read from the cloud
// assembly. Exits 1 when any stack carries an unsuppressed nag error or warning.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2] ?? "cdk.out";
const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
let failed = false;
for (const [name, art] of Object.entries(manifest.artifacts ?? {})) {
  if (art.type !== "aws:cloudformation:stack") continue;
  const template = JSON.parse(readFileSync(join(out, art.properties.templateFile), "utf8"));
  const resources = Object.keys(template.Resources ?? {}).length;
  let errors = 0, warnings = 0;
  for (const entries of Object.values(art.metadata ?? {})) {
    for (const e of entries) {
      if (e.type === "aws:cdk:error") errors++;
      if (e.type === "aws:cdk:warning") warnings++;
    }
  }
  const nag = errors + warnings === 0 ? "nag clean" : `nag: ${errors} errors, ${warnings} warnings`;
  if (errors + warnings > 0) failed = true;
  console.log(`${name.padEnd(28)} ${art.environment.replace("aws://", "").padEnd(32)} ${String(resources).padStart(4)} resources  ${nag}`);
}
process.exit(failed ? 1 : 0);
