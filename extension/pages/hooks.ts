/**
 * Page-side hooks over the borrowed device (extension/core/client.ts):
 * connect once, follow its status and history changes, and drop every
 * listener when the page goes away (the device outlives every page).
 */
import { useEffect, useReducer, useState } from 'preact/hooks'
import type { AppServices, AppStatus } from '../../shared/ui/app/services.ts'
import { errorMessage } from '../../shared/ui/messages.ts'
import { connectDevice } from '../core/client.ts'

export type DeviceState = { kind: 'connecting' } | { kind: 'ready', services: AppServices } | { kind: 'failed', text: string }

export function useDevice (): DeviceState {
  const [state, setState] = useState<DeviceState>({ kind: 'connecting' })
  useEffect(() => {
    const controller = new AbortController()
    connectDevice({ signal: controller.signal }).then(services => { setState({ kind: 'ready', services }) }, (err: unknown) => {
      if (!controller.signal.aborted) setState({ kind: 'failed', text: errorMessage(err) ?? 'Peerline did not start.' })
    })
    return () => { controller.abort() }
  }, [])
  return state
}

/** Re-renders on the device's status, session and history events; returns [status, history version]. */
export function useDeviceEvents (services: AppServices | undefined): [AppStatus | undefined, number] {
  const [version, bump] = useReducer((n: number) => n + 1, 0)
  useEffect(() => {
    if (services === undefined) return
    const listening = new AbortController()
    const { signal } = listening
    const on = (): void => { bump(undefined) }
    services.addEventListener('status:change', on, { signal })
    services.addEventListener('session:change', on, { signal })
    services.addEventListener('history:change', on, { signal })
    addEventListener('pagehide', () => { listening.abort() }, { once: true })
    return () => { listening.abort() }
  }, [services])
  return [services?.status, version]
}
