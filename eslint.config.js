// Lint for the whole repo: typescript-eslint's recommended rules plus
// Peerline's house rules (no console in shipped code: use shared/util/logger).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.peerline/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error'
    }
  },
  {
    // the logger is the one sink; tests, build scripts and benchmarks report to a terminal
    files: ['shared/util/logger.ts', 'test/**', 'build/**', 'bench/**'],
    rules: { 'no-console': 'off' }
  },
  {
    files: ['supernode/bin.js'],
    languageOptions: { globals: { process: 'readonly' } }
  }
)
