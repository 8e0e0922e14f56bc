// ci-check-stacks.mjs fails when the synthesized cloud assembly has a stack that no deploy job of
// .gitlab-ci.yml deploys (or a deploy job names a stack that no longer exists), so a stack added to
// the CDK app cannot silently stay undeployed.
//
//   node scripts/ci-check-stacks.mjs [cdk.out] [.gitlab-ci.yml]
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [outDir = "cdk.out", pipelineFile = ".gitlab-ci.yml"] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(outDir, "manifest.json"), "utf8"));
const synthesized = Object.entries(manifest.artifacts)
  .filter(([, a]) => a.type === "aws:cloudformation:stack")
  .map(([name]) => name)
  .sort();
const pipeline = readFileSync(pipelineFile, "utf8");
const deployed = new Set([...pipeline.matchAll(/STACK:\s*([A-Za-z0-9-]+)/g)].map((m) => m[1]));

const undeployed = synthesized.filter((s) => !deployed.has(s));
const unknown = [...deployed].filter((s) => !synthesized.includes(s));
if (undeployed.length || unknown.length) {
  if (undeployed.length) console.error(`stacks without a deploy job in ${pipelineFile}: ${undeployed.join(", ")}`);
  if (unknown.length) console.error(`deploy jobs for stacks the app no longer has: ${unknown.join(", ")}`);
  process.exit(1);
}
console.log(`every synthesized stack has its deploy jobs: ${synthesized.join(", ")}`);
