// The template validator's Node side (see templatecheck.go). It builds the validator's Rego engine as
// soon as it starts, while the CDK app is still constructing its stacks; then it reads one request
// line from stdin ({exclude, templates: [{stack, path, region, account}]}), validates each template as
// CDK 2.270's CloudFormationValidatePlugin does, writes one response line to stdout and exits.
// Failures leave as {"error": "..."}, never as a partial answer.
'use strict';
const modulePath = process.argv[1];
let validator;
let engine;
try {
  validator = require(modulePath);
  engine = new validator.RegoEngine({});
} catch (e) {
  process.stdout.write(JSON.stringify({ error: `loading the validator from ${modulePath}: ${e.message}` }) + '\n');
  process.exit(1);
}
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
  const nl = input.indexOf('\n');
  if (nl < 0) return;
  let out;
  try {
    const request = JSON.parse(input.slice(0, nl));
    out = { results: request.templates.map((t) => {
      const report = engine.validateStandard(new validator.TemplateFile(t.path), {
        exclude: request.exclude,
        severityLevel: 'WARN',
        pseudoParameterOverrides: { accountId: t.account || undefined, region: t.region || undefined },
      });
      return { stack: t.stack, diagnostics: report.diagnostics.map((d) => ({
        ruleId: d.ruleId,
        severity: d.severity,
        message: d.message,
        logicalId: d.entity && d.entity.entityType === 'Resource' ? d.entity.logicalId : '',
        propertyPath: d.propertyPath || '',
        fix: d.suggestedFix || '',
      })) };
    }) };
  } catch (e) {
    out = { error: e.message };
  }
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(out.error ? 1 : 0));
});
