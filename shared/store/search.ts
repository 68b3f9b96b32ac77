/**
 * Words for full-text search over chat transcripts: the same rules cut message bodies
 * into index terms and queries into search words, so a query matches what was indexed.
 *
 * Rules: lowercase; accents dropped (NFKD, then combining marks removed, so "Café" and
 * "cafe" are one word and the "ﬁ" ligature is "fi"; ø, ł, ß, æ… folded to o, l, ss, ae…); words are runs of Unicode letters
 * and digits; Han, Hiragana and Katakana characters are one word each (those scripts
 * write no spaces between words); one-letter words are dropped ("a", "I") but
 * one-digit numbers and single ideographs are kept; words are cut to MAX_TOKEN_LENGTH
 * characters.
 */
import { MAX_TOKEN_LENGTH } from './constants.ts'

const COMBINING_MARKS = /\p{M}+/gu
// Latin letters that NFKD leaves whole but people type without their stroke or ligature
const FOLDS: Record<string, string> = { ø: 'o', ł: 'l', đ: 'd', ħ: 'h', ı: 'i', ß: 'ss', æ: 'ae', œ: 'oe', þ: 'th' }
const FOLDABLE = /[øłđħıßæœþ]/gu
const WORDS = /[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]|(?:(?![\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}])[\p{L}\p{N}])+/gu
const SINGLE_KEPT = /^[\p{N}\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}]$/u

/** Lowercase, compatibility-decomposed text without combining marks. */
export function foldText (text: string): string {
  // decompose before lowercasing: NFKD turns e.g. mathematical bold 𝐀 into a plain capital A
  return text.normalize('NFKD').replace(COMBINING_MARKS, '').toLowerCase().replace(FOLDABLE, c => FOLDS[c] ?? c)
}

function cut (word: string): string {
  if (word.length <= MAX_TOKEN_LENGTH) return word
  // by code points, so a surrogate pair is never split
  return Array.from(word).slice(0, MAX_TOKEN_LENGTH).join('')
}

/** Every word of `text`, folded and cut, one-letter words included. */
function words (text: string): string[] {
  return Array.from(foldText(text).matchAll(WORDS), m => cut(m[0]))
}

/** Whether a word is worth indexing: one-letter words ("a", "I") are not, digits and ideographs are. */
function kept (word: string): boolean {
  // length 2 may still be one (astral) character
  return word.length > 2 || Array.from(word).length > 1 || SINGLE_KEPT.test(word)
}

/**
 * The words of `text`, in order, with repeats.
 *
 * @example tokenize('Café at 5, Zürich!') // ['cafe', 'at', '5', 'zurich']
 */
export function tokenize (text: string): string[] {
  return words(text).filter(kept)
}

/** The distinct words of `text`: what one message contributes to the index. */
export function indexTerms (text: string): Set<string> {
  return new Set(tokenize(text))
}

/** A parsed search: every `exact` word must occur, and a word starting with `prefix` (when set). */
export interface SearchQuery {
  exact: string[]
  prefix?: string
}

/**
 * Splits a query typed by a user: the last word is matched as a prefix (search as you
 * type), the others exactly. A one-letter last word counts as a prefix while it is
 * being typed after another word ("cafe m"); alone it would match nearly everything.
 * Returns undefined when the query has no searchable word.
 *
 * @example parseQuery('Meet Zür') // { exact: ['meet'], prefix: 'zur' }
 */
export function parseQuery (query: string): SearchQuery | undefined {
  const all = words(query)
  let last = all.pop()
  const exact = [...new Set(all.filter(kept))]
  if (last !== undefined && !kept(last)) {
    const stillTyping = /[\p{L}\p{N}]\p{M}*$/u.test(query)
    if (exact.length === 0 || !stillTyping) last = undefined
  }
  if (last === undefined) {
    // the query ended with a dropped letter: its last real word is still the prefix
    last = exact.pop()
    if (last === undefined) return undefined
  }
  // the prefix is implied when an exact word already starts with it ("tomato tom")
  if (exact.some(w => w.startsWith(last))) return { exact }
  return { exact, prefix: last }
}
/** Whether a message body satisfies `query`. */
export function matchesQuery (body: string, query: SearchQuery): boolean {
  return termsMatch(indexTerms(body), query)
}

/** Whether a message with these distinct words (its indexTerms) satisfies `query`. */
export function termsMatch (terms: ReadonlySet<string>, query: SearchQuery): boolean {
  for (const w of query.exact) if (!terms.has(w)) return false
  const prefix = query.prefix
  if (prefix === undefined) return true
  for (const t of terms) if (t.startsWith(prefix)) return true
  return false
}
