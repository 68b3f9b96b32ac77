/**
 * Deprecated: the history store's constants live in constants.ts now. This file
 * stays only because shared/ui/app/screens/Chat.tsx still imports it and shared/ui
 * belongs to another change in flight; delete it once that import reads constants.ts.
 */
export * from './constants.ts'
