// Prints the plain closing line "Tests: N passed, N failed, N skipped" from vitest's JSON report,
// and names every skipped test (skips must be loud).
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = [];
for (const file of report.testResults ?? []) {
  for (const test of file.assertionResults ?? []) {
    if (test.status === 'skipped' || test.status === 'pending' || test.status === 'todo')
      skipped.push(test.fullName);
  }
}
if (skipped.length > 0) {
  console.log(`\nSkipped tests (${skipped.length}):`);
  for (const name of skipped) console.log(`  - ${name}`);
}
const failed = report.numFailedTests ?? 0;
console.log(`\nTests: ${report.numPassedTests ?? 0} passed, ${failed} failed, ${skipped.length} skipped`);
if (report.numTotalTestSuites > 0 && report.success === false && failed === 0) {
  console.log('(a test file failed to load or run: see above)');
  process.exit(1);
}
