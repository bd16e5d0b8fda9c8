// ESLint (flat config): @eslint/js and typescript-eslint's recommended rules, without the
// type-aware ones (fast, and no type program to build). Formatting is Prettier's, not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['dist/**', 'build/**', 'prebuilds/**', 'node_modules/**', 'docs/api/**', 'coverage/**', 'new/**', 'test/fixtures/**'],
  },
  // eslint-disable comments for rules this config does not enable (no-console) are left alone
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      // `_name` is how an unused parameter or binding says it is unused on purpose
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // validation that refuses NUL and control characters says so in a regular expression
      'no-control-regex': 'off',
    },
  },
  {
    // the scripts, examples and benches are CommonJS
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // the jest example runs under jest, and its environment gives each test file `sandbox`
    files: ['examples/jest/**/*.js'],
    languageOptions: { globals: { ...globals.jest, sandbox: 'readonly' } },
  },
  {
    files: ['test/**/*.ts', 'test/**/*.mts', 'test/**/*.cts'],
    languageOptions: { globals: { ...globals.jest } },
    // a test loads a module late (after a mock, or to show what a fresh load does) with require()
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
