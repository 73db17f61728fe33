/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Two cores: run test files two at a time; emulators are shared within a file.
  maxWorkers: 2,
  testTimeout: 30000,
  setupFiles: ['<rootDir>/jest.setup.js'],
};
