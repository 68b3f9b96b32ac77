/**
 * Checks a state machine against the moves a test lists as legal: every pair
 * of states, the legal ones move, the others throw InvalidStateError and
 * change nothing; the table has no move the test does not know.
 *
 * @example checkStateTable(CALL_TRANSITIONS, STATES, legal, from => new CallStateMachine(from))
 */
import assert from 'node:assert/strict'
import type { StateMachine } from '../../shared/sip/state-machine.ts'

export function checkStateTable<S extends string> (table: Readonly<Record<S, readonly S[]>>, states: readonly S[], legal: ReadonlySet<string>, machine: (from: S) => StateMachine<S>): void {
  for (const from of states) {
    for (const to of states) {
      if (from === to) continue
      const m = machine(from)
      if (legal.has(`${from}>${to}`)) {
        assert.equal(m.transition(to), true, `${from} → ${to}`)
        assert.equal(m.state, to)
      } else {
        assert.throws(() => m.transition(to), { name: 'InvalidStateError' }, `${from} → ${to} must be refused`)
        assert.equal(m.state, from, 'a refused move changes nothing')
      }
    }
  }
  assert.equal(Object.values<readonly S[]>(table).flat().length, legal.size, 'the table has no move the test does not know')
}
