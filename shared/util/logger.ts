/**
 * Scoped logger: `const log = logger('overlay:dht'); log('published %s', aor)`.
 *
 * Shipped code never calls console.log directly; output is off unless the
 * scope is enabled with the PEERLINE_DEBUG variable (Node) or the
 * `peerline:debug` localStorage key (browsers), e.g. `overlay:*,supernode`.
 */
export interface Logger {
  (format: string, ...args: unknown[]): void
  error: (format: string, ...args: unknown[]) => void
  enabled: boolean
}

function readPattern (): string {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }, localStorage?: { getItem: (k: string) => string | null } }
  try {
    return g.process?.env?.PEERLINE_DEBUG ?? g.localStorage?.getItem('peerline:debug') ?? ''
  } catch {
    return ''
  }
}

function matches (pattern: string, scope: string): boolean {
  return pattern.split(',').map(p => p.trim()).filter(p => p !== '').some(p => {
    if (p === '*') return true
    if (p.endsWith('*')) return scope.startsWith(p.slice(0, -1))
    return p === scope
  })
}

export function logger (scope: string): Logger {
  const enabled = matches(readPattern(), scope)
  const write = (level: 'debug' | 'error', format: string, args: unknown[]): void => {
    // console is the sink here, behind the scope switch; errors always print.
    const line = `${new Date().toISOString()} ${scope} ${format}`
    if (level === 'error') console.error(line, ...args)
    else console.debug(line, ...args)
  }
  const log = ((format: string, ...args: unknown[]) => { if (enabled) write('debug', format, args) }) as Logger
  log.error = (format: string, ...args: unknown[]) => { write('error', format, args) }
  log.enabled = enabled
  return log
}
