import { defineConfig } from 'vitest/config';

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
    ],
  },
});
