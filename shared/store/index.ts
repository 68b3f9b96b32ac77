// Node-only backends (./node/file.ts) are imported directly, so browser bundles never see node: modules.
export * from './constants.ts'
export * from './errors.ts'
export * from './idb.ts'
export * from './kv.ts'
export type * from './history-api.ts'
export * from './history.ts'
export * from './search.ts'
