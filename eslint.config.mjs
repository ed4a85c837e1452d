// Type-aware lint, zero warnings. The import seams: only libs/kafka touches kafkajs and
// @platformatic/kafka, only libs/store
// touches classic-level, only libs/redis touches ioredis, so the engines can change in one place.
import tseslint from 'typescript-eslint';

const seam = (pkg, lib) => ({
  name: pkg,
  message: `${pkg} is imported only inside libs/${lib}; use @doubletap/${lib}.`,
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.stack/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: [
            seam('kafkajs', 'kafka'),
            seam('@platformatic/kafka', 'kafka'),
            seam('classic-level', 'store'),
            seam('ioredis', 'redis'),
          ],
          patterns: [
            { group: ['../../*', '../../../*'], message: 'import other libs through @doubletap/<lib>' },
          ],
        },
      ],
    },
  },
  {
    files: ['libs/kafka/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [seam('classic-level', 'store'), seam('ioredis', 'redis')] },
      ],
    },
  },
  {
    files: ['libs/store/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [seam('kafkajs', 'kafka'), seam('@platformatic/kafka', 'kafka'), seam('ioredis', 'redis')] },
      ],
    },
  },
  {
    files: ['libs/redis/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [seam('kafkajs', 'kafka'), seam('@platformatic/kafka', 'kafka'), seam('classic-level', 'store')] },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
