import { InvalidStateError } from './errors.ts'

/**
 * A state machine over a table of legal moves (the call's in call.ts, the
 * fork's and branch's in fork.ts), unit-testable on its own.
 * `transition(to)` returns false for a move to the current state (a second
 * 180), throws InvalidStateError for an illegal one.
 *
 * @example const m = new StateMachine(FORK_TRANSITIONS, 'routing', 'fork'); m.transition('trying')
 */
export class StateMachine<S extends string> {
  private readonly table: Readonly<Record<S, readonly S[]>>
  private readonly what: string
  private current: S

  constructor (table: Readonly<Record<S, readonly S[]>>, initial: S, what: string) {
    this.table = table
    this.current = initial
    this.what = what
  }

  get state (): S { return this.current }

  can (to: S): boolean {
    return this.table[this.current].includes(to)
  }

  transition (to: S): boolean {
    if (to === this.current) return false
    if (!this.can(to)) throw new InvalidStateError(`A ${this.what} cannot go from ${this.current} to ${to}`)
    this.current = to
    return true
  }
}
