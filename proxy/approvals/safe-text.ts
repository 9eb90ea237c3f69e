/**
 * Untrusted text made safe for a terminal. Prompt text comes from the agent being watched, so it could
 * carry escape sequences that retitle the window, rewrite the screen (hiding an approval's real host) or,
 * on some terminals, answer back; bidi controls could reorder what the approver reads (CVE-2021-42574).
 */

// CSI (ESC [ … final), OSC/DCS/SOS/PM/APC strings (up to BEL or ST), and two-byte ESC sequences.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[\]PX^_][\s\S]*?(?:\x07|\x1b\\|$)|\x1b[\s\S]?|\x9b[0-?]*[ -/]*[@-~]?|[\x90\x9d\x98\x9e\x9f][\s\S]*?(?:\x07|\x9c|$)/g
// C0 and C1 controls, DEL, and the Unicode bidi embeddings, overrides and isolates.
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Removes escape sequences and shows every other control character as U+FFFD, on one line. */
export function safeText(text: string): string {
  return text.replace(ESCAPES, '').replace(CONTROLS, '\ufffd')
}

/** Cuts `text` to `width` characters, marking the cut with an ellipsis. */
export function truncate(text: string, width: number): string {
  const chars = [...text]
  if (chars.length <= width) return text
  return width <= 1 ? chars.slice(0, width).join('') : chars.slice(0, width - 1).join('') + '…'
}
