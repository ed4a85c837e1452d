// Three tiers, chosen by file suffix: *.unit.test.ts (no services), *.int.test.ts (the local stack:
// real Kafka, registry, Redis) and *.e2e.test.ts (built apps as processes against the stack).
const base = {
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  moduleNameMapper: { '^@doubletap/(.*)$': '<rootDir>/libs/$1/src' },
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.stack/'],
  rootDir: __dirname,
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.test.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/setup/stack.global-setup.js',
      setupFiles: ['<rootDir>/test/setup/in-process-clients.js'],
      slowTestThreshold: 30,
      setupFilesAfterEnv: ['<rootDir>/test/setup/timeout-int.js'],
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/**/*.e2e.test.ts'],
      globalSetup: '<rootDir>/test/setup/e2e.global-setup.js',
      slowTestThreshold: 60,
      setupFilesAfterEnv: ['<rootDir>/test/setup/timeout-e2e.js'],
    },
  ],
};
