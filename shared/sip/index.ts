/**
 * shared/sip: calls and chat with JsSIP on Peerline's overlay.
 * The contract is api.ts; `phone()` is the entry point.
 */
export type * from './api.ts'
export * from './constants.ts'
export * from './errors.ts'
export { phone, PeerlinePhone } from './phone.ts'
export type { PhoneInit, PhoneComponents } from './phone.ts'
export { PeerlineCall, CallStateMachine, CALL_TRANSITIONS, callEndFrom } from './call.ts'
export type { CallInit, SessionEndInfo } from './call.ts'
export { SipTransport, devicePeer, bestResponse } from './transport.ts'
export type { SipTransportInit, SipTransportComponents, RequestOrigin, PreparedTarget, ForkOutcome } from './transport.ts'
export { encodeHello, verifyHello, looksLikeHello, NO_CERTIFICATE } from './hello.ts'
export type { Hello, PeerVerification, HelloVerifyOptions } from './hello.ts'
export { encodeFrame, encodeVarint, FrameDecoder, KEEPALIVE_FRAME } from './framing.ts'
export { parseSipMessage, parseSipBytes, branchKey, transactionKey, parseViaParm, getHeader, getHeaders, parseNameAddr, sipUriParts, reasonCause } from './message.ts'
export type { SipMessage, SipHeader, NameAddr } from './message.ts'
export { buildResponse } from './message-build.ts'
// lookup errors callers branch on, re-exported so UI code needs one import
export { NotFoundError, OfflineError } from '../overlay/index.ts'
export { InvalidAddressError } from '../identity/index.ts'
export { SipAccount, sipAccount, assertedCaller } from './accounts.ts'
export type { SipAccountInit, SipAccountComponents, JsSipSocket } from './accounts.ts'
export { validateAccount, routeFor, accountTarget, accountDomain, accountStore } from './account-settings.ts'
export type { ValidSipAccount, Route, AccountStorage, AccountStore } from './account-settings.ts'
