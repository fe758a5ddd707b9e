import assert from "node:assert/strict";
import { decodeUtf8, tokenize } from "../../lib/corefile/lexer.ts";

type Tok = [number, string];

function lex(input: string): Tok[] {
  return tokenize(input, "Testfile").map((t) => [t.line, t.text]);
}

// caddy's lexer_test.go inputs, then the quirks of corefile.md §1.
const CASES: { name: string; input: string; want: Tok[] }[] = [
  { name: "single token", input: "host:123", want: [[1, "host:123"]] },
  {
    name: "line numbers across blank lines",
    input: "host:123\n\ndirective",
    want: [[1, "host:123"], [3, "directive"]],
  },
  {
    name: "braces as separate tokens",
    input: "host:123 {\n\n\tdirective\n}",
    want: [[1, "host:123"], [1, "{"], [3, "directive"], [4, "}"]],
  },
  {
    name: "one-line block tokenizes",
    input: "host:123 { directive }",
    want: [[1, "host:123"], [1, "{"], [1, "directive"], [1, "}"]],
  },
  {
    name: "comments, including a trailing one",
    input:
      "host:123 {\n\t#comment\n\tdirective\n\t# comment\n\tfoobar # another comment\n}",
    want: [[1, "host:123"], [1, "{"], [3, "directive"], [5, "foobar"], [
      6,
      "}",
    ]],
  },
  {
    name: "quoted value with spaces",
    input: 'a "quoted value" b',
    want: [[1, "a"], [1, "quoted value"], [1, "b"]],
  },
  {
    name: "escaped quote inside quotes",
    input: 'A "quoted \\"value\\" inside" B',
    want: [[1, "A"], [1, 'quoted "value" inside'], [1, "B"]],
  },
  {
    name: "other backslashes kept verbatim",
    input: '"don\'t\\escape"',
    want: [[1, "don't\\escape"]],
  },
  {
    name: "double backslash kept verbatim",
    input: '"don\'t\\\\escape"',
    want: [[1, "don't\\\\escape"]],
  },
  {
    name: "quoted value spanning lines",
    input:
      'A "quoted value with line\n\t\t\t\t\tbreak inside" {\n\t\t\t\t\tfoobar\n\t\t\t\t}',
    want: [
      [1, "A"],
      [1, "quoted value with line\n\t\t\t\t\tbreak inside"],
      [2, "{"],
      [3, "foobar"],
      [4, "}"],
    ],
  },
  {
    name: "windows path in quotes",
    input: '"C:\\php\\php-cgi.exe"',
    want: [[1, "C:\\php\\php-cgi.exe"]],
  },
  {
    name: "empty quoted token",
    input: 'empty "" string',
    want: [[1, "empty"], [1, ""], [1, "string"]],
  },
  {
    name: "CRLF",
    input: "skip those\r\nCR characters",
    want: [[1, "skip"], [1, "those"], [2, "CR"], [2, "characters"]],
  },
  { name: "leading BOM", input: "\ufeff:8080", want: [[1, ":8080"]] },
  {
    name: "second BOM is ordinary",
    input: "\ufeff\ufeffa",
    want: [[1, "\ufeffa"]],
  },
  { name: "empty input", input: "", want: [] },
  { name: "newline only", input: "\n", want: [] },
  { name: "space only", input: " ", want: [] },
  { name: "tab and newline", input: "\t\n", want: [] },
  {
    name: "not-empty",
    input: "a b c\nd e",
    want: [[1, "a"], [1, "b"], [1, "c"], [2, "d"], [2, "e"]],
  },
  { name: "CR never ends a token", input: "a\rb", want: [[1, "ab"]] },
  { name: "CR deleted inside quotes", input: '"a\r\nb"', want: [[1, "a\nb"]] },
  {
    name: "quote only special at token start",
    input: 'a"b c"',
    want: [[1, 'a"b'], [1, 'c"']],
  },
  {
    name: "closing quote ends the token",
    input: '"a"b',
    want: [[1, "a"], [1, "b"]],
  },
  { name: "unterminated quote at EOF", input: '"abc', want: [[1, "abc"]] },
  { name: "empty unterminated quote at EOF", input: '"', want: [] },
  { name: "pending backslash lost at EOF", input: '"ab\\', want: [[1, "ab"]] },
  {
    name: "comment mid-word ends at the next whitespace",
    input: "log a#x b",
    want: [[1, "log"], [1, "a"], [1, "b"]],
  },
  { name: "comment mid-word", input: "foo#bar", want: [[1, "foo"]] },
  {
    name: "comment at token start runs to end of line",
    input: "a #x b\nc",
    want: [[1, "a"], [2, "c"]],
  },
  {
    name: "braces glued to text are not special",
    input: ".{ {whoami} }b",
    want: [[1, ".{"], [1, "{whoami}"], [1, "}b"]],
  },
  {
    name: "hash and braces literal inside quotes",
    input: '"# {x}\n}"',
    want: [[1, "# {x}\n}"]],
  },
  {
    name: "unicode spaces separate tokens",
    input: "a\u00a0b\u2003c\u3000d\u0085e",
    want: [[1, "a"], [1, "b"], [1, "c"], [1, "d"], [1, "e"]],
  },
  {
    name: "zero-width space is not whitespace",
    input: "a\u200bb",
    want: [[1, "a\u200bb"]],
  },
  {
    name: "vertical tab and form feed are whitespace",
    input: "a\vb\fc",
    want: [[1, "a"], [1, "b"], [1, "c"]],
  },
  {
    name: "token line is where it starts",
    input: '\n\n"x\ny" z',
    want: [[3, "x\ny"], [4, "z"]],
  },
];

Deno.test("tokenize() matches caddy's lexer", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => assert.deepEqual(lex(c.input), c.want));
  }
});

Deno.test("tokenize() records the file name on each token", () => {
  assert.deepEqual(tokenize("a", "/abs/x.conf"), [
    { file: "/abs/x.conf", line: 1, text: "a" },
  ]);
});

Deno.test("decodeUtf8() replaces each invalid byte like Go's ReadRune", () => {
  const bytes = new Uint8Array([0x61, 0xe2, 0x82, 0x62, 0xff, 0xc3, 0xa9]);
  assert.equal(decodeUtf8(bytes), "a\ufffd\ufffdb\ufffd\u00e9");
  assert.equal(
    decodeUtf8(new TextEncoder().encode("h\u00e9llo \u{1f600}")),
    "h\u00e9llo \u{1f600}",
  );
  // A BOM survives decoding; the lexer drops it.
  assert.equal(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])), "\ufeffa");
  // Surrogate code points and overlong forms are invalid in Go too.
  assert.equal(
    decodeUtf8(new Uint8Array([0xed, 0xa0, 0x80, 0xc0, 0x80])),
    "\ufffd".repeat(5),
  );
});
