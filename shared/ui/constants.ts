/**
 * Tones played with WebAudio oscillators (no audio files to ship or cache).
 * Frequencies and cadences follow national tone plans collected in ITU-T E.180.
 */

/** Incoming call: the double ring of the UK plan (400+450 Hz; 0.4 s on, 0.2 off, 0.4 on, 2 off). */
export const RING_TONE = { frequencies: [400, 450], cadence: [0.4, 0.2, 0.4, 2.0] } as const

/** Outgoing call, while the other side rings: North American ringback (440+480 Hz; 2 s on, 4 s off). */
export const RINGBACK_TONE = { frequencies: [440, 480], cadence: [2.0, 4.0] } as const

/** Loudness of each oscillator (0..1); two of them sum below clipping and below startling. */
export const TONE_GAIN = 0.08

/** DTMF keys offered on the keypad (RFC 4733 events 0-9, *, #), in telephone layout. */
export const KEYPAD_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'] as const
