// Lint gate: type-aware typescript-eslint rules, zero warnings allowed (see package.json "lint").
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'tools/kafka/lib/**', '.cache/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test() returns a promise the runner itself awaits
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/libs/*/src/**', '../../libs/**'], message: 'Import libs through @vigil/<lib>.' },
          ],
        },
      ],
    },
  },
  {
    // Nest needs runtime class references for constructor injection, so type-only imports would break DI.
    files: ['apps/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // An app or tool reaches another app only through its public entry (apps/<app>/src/index.ts); what
    // two apps share belongs in a lib. Tests (test/) may open an app up: they test its parts.
    files: ['apps/**/*.ts', 'tools/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/libs/*/src/**', '../../libs/**'], message: 'Import libs through @vigil/<lib>.' },
            {
              group: [
                '../../*/src/**',
                '!../../*/src/index.js',
                '../../apps/*/src/**',
                '!../../apps/*/src/index.js',
              ],
              message:
                "Another app's files are its own: import its public entry (apps/<app>/src/index.js), or move what is shared to a lib.",
            },
          ],
        },
      ],
    },
  },
);
