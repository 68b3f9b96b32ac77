/**
 * Thunderbird has no WebRTC, and Peerline never tries media there: calls are
 * handed to the browser (handoff.ts). But JsSIP accepts an incoming INVITE,
 * and so lets the call ring, only when `window.RTCPeerConnection` exists
 * (jssip/lib/UA.js replies 488 otherwise). This placeholder makes it exist
 * and refuses any use: constructing one throws MediaUnavailableError, so
 * nothing can answer or place a call with media from Thunderbird.
 */

export class MediaUnavailableError extends Error {
  static readonly NAME = 'MediaUnavailableError'
  constructor (message = 'Thunderbird cannot carry call audio or video: the call continues in your browser') {
    super(message)
    this.name = MediaUnavailableError.NAME
  }
}

export class NoMediaPeerConnection {
  constructor () {
    throw new MediaUnavailableError()
  }
}

/**
 * Installs the placeholder when the context has no RTCPeerConnection;
 * returns whether a native one exists (then nothing is changed).
 */
export function allowRingingWithoutWebRtc (target: Record<string, unknown> = globalThis as unknown as Record<string, unknown>): boolean {
  if (typeof target.RTCPeerConnection === 'function') return true
  target.RTCPeerConnection = NoMediaPeerConnection
  return false
}
