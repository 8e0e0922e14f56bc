// Prints one line per synthesized stack: resources, the cdk-nag result and the template check's
// (constructs/templatecheck), read from the cloud assembly, then every annotation (info, warning,
// error) as one line: stack, construct path, message. Exits 1 when any stack carries an
// unsuppressed nag error or warning, a template error, or was not template-checked at all.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2] ?? "cdk.out";
const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
const checkFile = join(out, "template-check.json");
const check = existsSync(checkFile) ? JSON.parse(readFileSync(checkFile, "utf8")) : { stacks: [], findings: [] };
let failed = false;
const annotations = [];
const levels = { "aws:cdk:info": "INFO", "aws:cdk:warning": "WARNING", "aws:cdk:error": "ERROR" };
for (const [name, art] of Object.entries(manifest.artifacts ?? {})) {
  if (art.type !== "aws:cloudformation:stack") continue;
  const template = JSON.parse(readFileSync(join(out, art.properties.templateFile), "utf8"));
  const resources = Object.keys(template.Resources ?? {}).length;
  let errors = 0, warnings = 0;
  // Large assemblies keep a stack's metadata in a file of its own (additionalMetadataFile).
  const metadata = { ...(art.metadata ?? {}) };
  if (art.additionalMetadataFile) {
    for (const [path, entries] of Object.entries(JSON.parse(readFileSync(join(out, art.additionalMetadataFile), "utf8")))) {
      metadata[path] = [...(metadata[path] ?? []), ...entries];
    }
  }
  for (const [path, entries] of Object.entries(metadata)) {
    for (const e of entries) {
      if (e.type === "aws:cdk:error") errors++;
      if (e.type === "aws:cdk:warning") warnings++;
      if (levels[e.type]) {
        const text = String(e.data).replace(/\s+/g, " ").trim();
        const where = path === `/${name}` ? name : path.replace(/^\//, "");
        annotations.push(`${levels[e.type].padEnd(7)} ${where}: ${text}`);
      }
    }
  }
  const nag = errors + warnings === 0 ? "nag clean" : `nag: ${errors} errors, ${warnings} warnings`;
  if (errors + warnings > 0) failed = true;
  const found = check.findings.filter((f) => f.stack === name);
  const blocking = found.filter((f) => f.severity === "ERROR" || f.severity === "FATAL").length;
  let templates = "template valid";
  if (!check.stacks.includes(name)) templates = "template NOT checked";
  else if (found.length > 0) templates = `template: ${blocking} errors, ${found.length - blocking} warnings`;
  if (!check.stacks.includes(name) || blocking > 0) failed = true;
  console.log(`${name.padEnd(28)} ${art.environment.replace("aws://", "").padEnd(32)} ${String(resources).padStart(4)} resources  ${nag}  ${templates}`);
}
for (const a of annotations) console.log(a);
process.exit(failed ? 1 : 0);
