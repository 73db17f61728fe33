/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Two cores: run test files two at a time; emulators are shared within a file.
  maxWorkers: 2,
  // Generous: the worker and end-to-end tests run real processes, and a loaded 2-core machine is slow.
  testTimeout: 120000,
  setupFiles: ['<rootDir>/jest.setup.js'],
};
