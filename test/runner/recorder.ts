/**
 * A stand-in for `node:test` used only while listing (test/runner/list.ts):
 * `describe` runs its body so that the tests it declares are recorded, `it`
 * records a test without running it, hooks are ignored. Nothing a test file
 * sets up in `before` runs, so a listing is cheap and has no side effects
 * beyond a file's top-level code.
 */

export interface DeclaredTest {
  /** suite names from the outside in, then the test's name */
  path: string[]
  /** set when the test, or a suite around it, is declared skipped */
  skip?: string
  todo?: boolean
}

type Fn = (...args: unknown[]) => unknown
interface Options { skip?: boolean | string, todo?: boolean | string, only?: boolean, timeout?: number, concurrency?: unknown }

const state: { tests: DeclaredTest[], stack: Array<{ name: string, skip?: string }>, pending: Array<Promise<unknown>> } = { tests: [], stack: [], pending: [] }

/** Declarations recorded since the last call (the listing imports one file at a time). */
export function takeDeclared (): { tests: DeclaredTest[], pending: Array<Promise<unknown>> } {
  const out = { tests: state.tests, pending: state.pending }
  state.tests = []
  state.pending = []
  return out
}

function parse (args: unknown[]): { name: string, options: Options, fn?: Fn } {
  let name = '<anonymous>'
  let options: Options = {}
  let fn: Fn | undefined
  for (const a of args) {
    if (typeof a === 'string') name = a
    else if (typeof a === 'function') fn = a as Fn
    else if (a != null && typeof a === 'object') options = a as Options
  }
  if (fn?.name != null && fn.name !== '' && args.every(a => typeof a !== 'string')) name = fn.name
  return { name, options, fn }
}

function skipReason (options: Options): string | undefined {
  if (options.skip === true) return 'skipped'
  if (typeof options.skip === 'string' && options.skip !== '') return options.skip
  return undefined
}

export function describe (...args: unknown[]): void {
  const { name, options, fn } = parse(args)
  const outer = state.stack.at(-1)?.skip
  const skip = outer ?? skipReason(options)
  state.stack.push({ name, ...(skip !== undefined ? { skip } : {}) })
  try {
    const result = fn?.({})
    if (result instanceof Promise) state.pending.push(result)
  } finally {
    state.stack.pop()
  }
}

export function it (...args: unknown[]): void {
  const { name, options } = parse(args)
  const skip = state.stack.at(-1)?.skip ?? skipReason(options)
  const todo = options.todo !== undefined && options.todo !== false
  state.tests.push({ path: [...state.stack.map(s => s.name), name], ...(skip !== undefined ? { skip } : {}), ...(todo ? { todo } : {}) })
}

const noop = (): void => {}
export const test = it
export const suite = describe
export const before = noop
export const after = noop
export const beforeEach = noop
export const afterEach = noop
export const mock = {}
export default it
