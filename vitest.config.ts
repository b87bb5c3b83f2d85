import { defineConfig } from 'vitest/config';

// The fault suite (test/reliability) runs only when asked for by name, as `pnpm test:reliability`
// does (`vitest run --project reliability`): a plain `vitest run` (`pnpm test`) stays the unit and
// integration tests, and CI runs the suite as a step of its own.
const argv = process.argv;
const reliabilityRequested = argv.some(
  (arg, i) => arg === '--project=reliability' || (arg === '--project' && argv[i + 1] === 'reliability'),
);

export default defineConfig({
  test: {
    // In CI a JSON report beside the console one lets .ci/run print a plain closing count.
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.vitest-report.json' }]] : ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/reliability/**', '**/node_modules/**'],
          testTimeout: 30_000,
        },
      },
      ...(reliabilityRequested
        ? [
            {
              test: {
                // Files run one at a time: several compare timings. RELIABILITY_PROFILE=full selects
                // the long profile (test/reliability/README.md).
                name: 'reliability',
                include: ['test/reliability/**/*.test.ts'],
                fileParallelism: false,
                testTimeout: 900_000,
                hookTimeout: 60_000,
              },
            },
          ]
        : []),
    ],
  },
});
