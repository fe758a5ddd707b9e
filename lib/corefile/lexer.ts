/**
 * Corefile tokenizer: a port of caddy v1's caddyfile lexer (corefile.md §1),
 * quirks included.
 *
 * @module
 */

/** One token of a Corefile. */
export interface Token {
  /** Main file name as given, or the absolute path of an imported file. */
  file: string;
  /** 1-based line the token starts on. */
  line: number;
  /** Token text, quotes removed; after parsing, env-substituted except a directive's first token. */
  text: string;
}

/** How many line breaks a token's text spans (quoted tokens may hold some). */
export function newlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** Go's unicode.IsSpace. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 ||
      cp === 0xa0;
  }
  return cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 ||
    cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

const CR = 0x0d;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const BOM = 0xfeff;

/**
 * Splits Corefile text into tokens.
 *
 * @param text the file's text
 * @param file the name recorded on each token
 * @returns the tokens in order
 */
export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  // A single leading BOM is dropped; any other one is an ordinary character.
  if (n > 0 && text.charCodeAt(0) === BOM) i = 1;

  // Each iteration of the outer loop is one call of caddy's lexer.next():
  // its comment state lives only as long as one token read (the quirk that
  // makes `a#x b` give `a` then `b`).
  while (i < n) {
    let val = "";
    let tokenLine = line;
    let comment = false;
    let quoted = false;
    let escaped = false;
    let emitted = false;
    while (i < n) {
      const cp = text.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      i += ch.length;
      // caddy deletes every \r, inside quotes too (CRLF files lex like LF).
      if (cp === CR) continue;
      if (quoted) {
        if (!escaped) {
          if (cp === BACKSLASH) {
            escaped = true;
            continue;
          }
          if (cp === QUOTE) {
            tokens.push({ file, line: tokenLine, text: val });
            emitted = true;
            break;
          }
        }
        if (cp === LF) line++;
        // Only \" is an escape; any other backslash pair is kept as written.
        if (escaped && cp !== QUOTE) val += "\\";
        val += ch;
        escaped = false;
        continue;
      }
      if (isGoSpace(cp)) {
        if (cp === LF) {
          line++;
          comment = false;
        }
        if (val.length > 0) {
          tokens.push({ file, line: tokenLine, text: val });
          emitted = true;
          break;
        }
        continue;
      }
      if (cp === HASH) comment = true;
      if (comment) continue;
      if (val.length === 0) {
        tokenLine = line;
        if (cp === QUOTE) {
          quoted = true;
          continue;
        }
      }
      val += ch;
    }
    if (!emitted) {
      // EOF: whatever was collected becomes a token; an empty one is dropped.
      if (val.length > 0) tokens.push({ file, line: tokenLine, text: val });
      break;
    }
  }
  return tokens;
}

/**
 * Decodes UTF-8 the way Go's bufio.Reader.ReadRune does: every byte of an
 * invalid sequence becomes one U+FFFD (TextDecoder would merge some of them).
 */
export function decodeUtf8(bytes: Uint8Array): string {
  // Fast path: valid UTF-8 decodes identically.
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes,
    );
  } catch {
    // fall through to the byte-by-byte decoder
  }
  const parts: string[] = [];
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      parts.push(String.fromCharCode(b0));
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lo = 0xa0;
      if (b0 === 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lo = 0x90;
      if (b0 === 0xf4) hi = 0x8f;
    } else {
      parts.push("\ufffd");
      i++;
      continue;
    }
    let ok = i + need < n;
    for (let k = 1; ok && k <= need; k++) {
      const b = bytes[i + k]!;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (b < min || b > max) ok = false;
      else cp = (cp << 6) | (b & 0x3f);
    }
    if (!ok) {
      parts.push("\ufffd");
      i++;
      continue;
    }
    parts.push(String.fromCodePoint(cp));
    i += need + 1;
  }
  return parts.join("");
}
