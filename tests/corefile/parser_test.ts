import assert from "node:assert/strict";
import {
  CorefileError,
  parseCorefile,
  type ServerBlock,
} from "../../lib/corefile/mod.ts";

// caddy's parser tests run with every directive valid.
const ANY: ReadonlySet<string> = { has: () => true } as unknown as ReadonlySet<
  string
>;

interface Opts {
  env?: Record<string, string>;
  dir?: string;
  warnings?: string[];
  filename?: string;
  directives?: ReadonlySet<string>;
}

function parse(text: string, o: Opts = {}): ServerBlock[] {
  const env = o.env ?? {};
  return parseCorefile(text, {
    filename: o.filename ?? "Testfile",
    directives: o.directives ?? ANY,
    env: (n) => Object.hasOwn(env, n) ? env[n] : undefined,
    warn: (l) => o.warnings?.push(l),
    ...(o.dir === undefined ? {} : { dir: o.dir }),
  });
}

function parseError(text: string, o: Opts = {}): string {
  try {
    parse(text, o);
  } catch (e) {
    assert.ok(e instanceof CorefileError, `not a CorefileError: ${e}`);
    return e.message;
  }
  throw new Error(`expected an error for ${JSON.stringify(text)}`);
}

function counts(b: ServerBlock): Record<string, number> {
  return Object.fromEntries([...b.tokens].map(([k, v]) => [k, v.length]));
}

function texts(b: ServerBlock, dir: string): string[] {
  return (b.tokens.get(dir) ?? []).map((t) => t.text);
}

function tempDir(files: Record<string, string>): string {
  const dir = Deno.makeTempDirSync({ prefix: "corefile_parser_" });
  for (const [path, text] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    Deno.mkdirSync(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(full, text);
  }
  return dir;
}

// TestParseOneAndImport / TestParseAll, without files.
const ONE: {
  input: string;
  keys?: string[];
  tokens?: Record<string, number>;
  err?: boolean;
}[] = [
  { input: "localhost", keys: ["localhost"], tokens: {} },
  { input: "localhost\n  dir1", keys: ["localhost"], tokens: { dir1: 1 } },
  {
    input: "localhost:1234\n  dir1 foo bar",
    keys: ["localhost:1234"],
    tokens: { dir1: 3 },
  },
  {
    input: "localhost {\n    dir1\n  }",
    keys: ["localhost"],
    tokens: { dir1: 1 },
  },
  {
    input: "localhost:1234 {\n    dir1 foo bar\n    dir2\n  }",
    keys: ["localhost:1234"],
    tokens: { dir1: 3, dir2: 1 },
  },
  {
    input: "http://localhost https://localhost\n  dir1 foo bar",
    keys: ["http://localhost", "https://localhost"],
    tokens: { dir1: 3 },
  },
  {
    input: "http://localhost https://localhost {\n    dir1 foo bar\n  }",
    keys: ["http://localhost", "https://localhost"],
    tokens: { dir1: 3 },
  },
  {
    input: "http://localhost, https://localhost {\n    dir1 foo bar\n  }",
    keys: ["http://localhost", "https://localhost"],
    tokens: { dir1: 3 },
  },
  { input: "http://localhost, {\n  }", err: true },
  {
    input: "host1:80, http://host2.com\n  dir1 foo bar\n  dir2 baz",
    keys: ["host1:80", "http://host2.com"],
    tokens: { dir1: 3, dir2: 2 },
  },
  {
    input: "http://host1.com,\n  http://host2.com,\n  https://host3.com",
    keys: ["http://host1.com", "http://host2.com", "https://host3.com"],
    tokens: {},
  },
  {
    input:
      "http://host1.com:1234, https://host2.com\n  dir1 foo {\n    bar baz\n  }\n  dir2",
    keys: ["http://host1.com:1234", "https://host2.com"],
    tokens: { dir1: 6, dir2: 1 },
  },
  {
    input: "127.0.0.1\n  dir1 {\n    bar baz\n  }\n  dir2 {\n    foo bar\n  }",
    keys: ["127.0.0.1"],
    tokens: { dir1: 5, dir2: 5 },
  },
  { input: "localhost\n  dir1 {\n    foo", err: true },
  {
    input: "localhost\n  dir1 {\n  }",
    keys: ["localhost"],
    tokens: { dir1: 3 },
  },
  { input: "localhost\n  dir1 {\n  } }", err: true },
  {
    input:
      "localhost\n  dir1 {\n    nested {\n      foo\n    }\n  }\n  dir2 foo bar",
    keys: ["localhost"],
    tokens: { dir1: 7, dir2: 3 },
  },
  { input: "", keys: undefined },
  { input: '""', keys: undefined },
  {
    input: "import testdata/import_test1.txt testdata/import_test2.txt",
    err: true,
  },
  { input: "import testdata/not_found.txt", err: true },
  // Found by fuzzing in caddy.
  { input: 'import }{$"', err: true },
  { input: "import /*/*.txt", err: true },
  { input: "import /???/?*?o", err: true },
  { input: "import /??", err: true },
  { input: "import /[a-z]", err: true },
  { input: "import {$}", err: true },
  { input: "import {%}", err: true },
  { input: "import {$$}", err: true },
  { input: "import {%%}", err: true },
];

Deno.test("parseCorefile() groups keys and directive tokens like caddy", async (t) => {
  const dir = tempDir({});
  try {
    for (const c of ONE) {
      await t.step(JSON.stringify(c.input), () => {
        if (c.err) {
          parseError(c.input, { dir });
          return;
        }
        const blocks = parse(c.input, { dir });
        if (c.keys === undefined) {
          assert.deepEqual(blocks, []);
          return;
        }
        assert.equal(blocks.length, 1);
        assert.deepEqual(blocks[0]!.keys, c.keys);
        assert.deepEqual(counts(blocks[0]!), c.tokens);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseCorefile() splits server blocks", () => {
  const keysOf = (s: string) => parse(s).map((b) => b.keys);
  assert.deepEqual(keysOf("localhost:1234"), [["localhost:1234"]]);
  assert.deepEqual(keysOf("localhost:1234 {\n}\nlocalhost:2015 {\n}"), [
    ["localhost:1234"],
    ["localhost:2015"],
  ]);
  assert.deepEqual(keysOf("localhost:1234, http://host2"), [[
    "localhost:1234",
    "http://host2",
  ]]);
  assert.deepEqual(
    keysOf(
      "http://host1.com, http://host2.com {\n}\nhttps://host3.com, https://host4.com {\n}",
    ),
    [["http://host1.com", "http://host2.com"], [
      "https://host3.com",
      "https://host4.com",
    ]],
  );
  // A } at directive position in a brace-less block starts a new block.
  assert.deepEqual(keysOf("a\ndir1\n}\nb\ndir2"), [["a"], ["b"]]);
  // A block that starts with { has no keys and is dropped.
  assert.deepEqual(keysOf("{\ndir1\n}\nb {\n}"), [["b"]]);
  // The final } may be missing after a directive's own block.
  assert.deepEqual(keysOf("a {\ndir1 {\n}"), [["a"]]);
});

Deno.test("parseCorefile() error messages and lines", async (t) => {
  const cases: [string, string][] = [
    [
      "localhost:1234, http://host2,",
      "Testfile:1 - Error during parsing: Unexpected EOF",
    ],
    [
      "a, {\n}",
      "Testfile:1 - Error during parsing: Expected another address but had '{' - check for extra comma",
    ],
    ["a {\ndir1 {\nfoo", "Testfile:3 - Error during parsing: Unexpected EOF"],
    [
      "a {\ndir1 {\n} }",
      "Testfile:3 - Error during parsing: Unexpected '}' because no matching opening brace",
    ],
    [
      "a {\ndir1",
      "Testfile:2 - Syntax error: Unexpected token 'dir1', expecting '}'",
    ],
    [
      "(s)\nx",
      "Testfile:2 - Syntax error: Unexpected token 'x', expecting '{'",
    ],
    [
      "(s) {\ndir1 {\n}",
      "Testfile:3 - Syntax error: Unexpected token '}', expecting '}'",
    ],
    [
      "import",
      "Testfile:1 - Error during parsing: Wrong argument count or unexpected line ending after 'import'",
    ],
    [
      "a {\nimport\n}",
      "Testfile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'import'",
    ],
    [
      'import ""',
      "Testfile:1 - Error during parsing: Import requires a non-empty filepath",
    ],
    [
      "import {$}",
      "Testfile:1 - Error during parsing: File to import not found: {$}",
    ],
    [
      "import a b",
      "Testfile:1 - Error during parsing: Import takes only one argument (glob pattern or file)",
    ],
    [
      "(s) {\nimport s\n}",
      "Testfile:3 - Error during parsing: maximum snippet import depth (10000) exceeded",
    ],
    [
      "(s) {\n{ }\nimport s\n}\nimport s",
      "Testfile:4 - Error during parsing: maximum snippet import depth (10000) exceeded",
    ],
    [
      "(s) {\n}\n(s) {\n}",
      "Testfile:3 - Error during parsing: redeclaration of previously declared snippet s",
    ],
  ];
  for (const [input, msg] of cases) {
    await t.step(
      JSON.stringify(input),
      () => assert.equal(parseError(input), msg),
    );
  }
});

Deno.test("parseCorefile() checks directive names case-sensitively", () => {
  const directives = new Set(["whoami", "log"]);
  assert.equal(
    parseError(". {\n  whoami\n  Log\n}", { directives, filename: "Corefile" }),
    "Corefile:3 - Error during parsing: Unknown directive 'Log'",
  );
  // The name is env-substituted for the check; the stored token stays raw.
  const [b] = parse(". {\n  {$D} x\n}", { directives, env: { D: "log" } });
  assert.deepEqual(texts(b!, "log"), ["{$D}", "x"]);
  // A variable holding "{" is not structural at directive position.
  assert.equal(
    parseError("{$B} .\nwhoami", { directives, env: { B: "{" } }),
    "Testfile:1 - Error during parsing: Unknown directive '{'",
  );
});

Deno.test("parseCorefile() substitutes environment variables", () => {
  const env = {
    PORT: "8080",
    ADDRESS: "servername.com",
    FOOBAR: "foobar",
    PARTIAL_DIR: "r1",
  };
  const key = (s: string) => parse(s, { env })[0]!.keys[0];
  const arg = (s: string) =>
    texts(parse(s, { env })[0]!, "dir1")[1] ??
      texts(parse(s, { env })[0]!, "answer")[1];
  assert.equal(key("{$ADDRESS}"), "servername.com");
  assert.equal(key("di{$PARTIAL_DIR}"), "dir1");
  assert.equal(key("{$ADDRESS}:{$PORT}"), "servername.com:8080");
  assert.equal(key("{%ADDRESS%}:{$PORT}"), "servername.com:8080");
  assert.equal(key("{$ADDRESS}:{%PORT%}"), "servername.com:8080");
  assert.equal(key(":{%PORT%}\ndir1 {$FOOBAR}"), ":8080");
  assert.equal(arg(":{%PORT%}\ndir1 {$FOOBAR}"), "foobar");
  assert.equal(
    arg(":{%PORT%}\ndir1 {%ADDRESS%}/{%FOOBAR%}"),
    "servername.com/foobar",
  );
  assert.equal(arg(":1234\ndir1 {%ADDRESS}"), "{%ADDRESS}");
  assert.equal(key(":{$PORT$}"), ":");
  assert.equal(arg(':1234\ndir1 "Test {$FOOBAR} test"'), "Test foobar test");
  assert.equal(
    arg(':1234\nanswer "{{ .Name }} {$FOOBAR}"'),
    "{{ .Name }} foobar",
  );
  // Defaults are not supported: {$X:def} looks up "X:def".
  assert.equal(key("a{$PORT:80}"), "a");
  // {$} stops the pass for the rest of the token.
  assert.equal(key("{$}{$PORT}"), "{$}{$PORT}");
});

Deno.test("a self-referencing variable is an error, not a hang", () => {
  // Deliberate difference: CoreDNS loops forever here.
  assert.match(
    parseError("{$A}", { env: { A: "x{$A}" } }),
    /^Testfile:1 - Error during parsing: environment variable expansion does not terminate/,
  );
  assert.match(
    parseError("a\ndir1 {$A}", { env: { A: "{$A}{$A}" } }),
    /^Testfile:2 - Error during parsing: environment/,
  );
});

Deno.test("import at top level, in a block, nested, relative and absolute", () => {
  const dir = tempDir({
    "import_test1.txt": "dir2 arg1 arg2\ndir3",
    "import_test2.txt": "host1 {\n  dir1\n  dir2 arg1\n}",
    "sub/rec1": "localhost\ndir1\nimport rec2",
    "sub/rec2": "dir2 1",
    "glob0.txt": "glob0.host0 {\n}\nglob0.host1 {\n}",
    "glob1.txt": "glob1.host0 {\n}",
    "glob2.txt": "glob2.host0 {\n}",
    "directive_import": "prop1 1\nprop2 2",
  });
  try {
    let [b] = parse("localhost\n  dir1 arg1\n  import import_test1.txt", {
      dir,
    });
    assert.deepEqual(counts(b!), { dir1: 2, dir2: 3, dir3: 1 });
    [b] = parse("import import_test2.txt", { dir });
    assert.deepEqual(b!.keys, ["host1"]);
    assert.deepEqual(counts(b!), { dir1: 1, dir2: 2 });
    // Relative imports resolve against the importing file's directory.
    for (const input of ["import sub/rec1", `import ${dir}/sub/rec1`]) {
      [b] = parse(input, { dir });
      assert.deepEqual(b!.keys, ["localhost"]);
      assert.deepEqual(counts(b!), { dir1: 1, dir2: 2 });
      assert.equal(b!.tokens.get("dir2")![0]!.file, `${dir}/sub/rec2`);
    }
    // Glob matches in lexical order.
    assert.deepEqual(
      parse("import glob*.txt", { dir }).map((x) => x.keys[0]),
      ["glob0.host0", "glob0.host1", "glob1.host0", "glob2.host0"],
    );
    // import inside a directive's block.
    [b] = parse(
      "localhost\ndir1\nproxy {\n  import directive_import\n  transparent\n}",
      { dir },
    );
    assert.deepEqual(counts(b!), { dir1: 1, proxy: 8 });
    assert.match(
      parseError("localhost\ndir1\nproxy {\n  import nonexistent_file\n}", {
        dir,
      }),
      /File to import not found: nonexistent_file$/,
    );
    // The main file name may carry a directory.
    [b] = parse("import rec2", { dir, filename: "sub/Corefile" });
    assert.deepEqual(b!.keys, ["dir2", "1"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("import of a glob with no match warns; a missing file fails", () => {
  const dir = tempDir({});
  try {
    const warnings: string[] = [];
    assert.deepEqual(parse("import notfound/*", { dir, warnings }), []);
    assert.deepEqual(warnings, [
      "[WARNING] No files matching import glob pattern: notfound/*",
    ]);
    assert.equal(
      parseError("import notfound/file.conf", { dir }),
      "Testfile:1 - Error during parsing: File to import not found: notfound/file.conf",
    );
    assert.equal(
      parseError("import conf.d/*/*.conf", { dir }),
      `Testfile:1 - Error during parsing: Glob pattern may only contain one wildcard (*), but has others: ${dir}/conf.d/*/*.conf`,
    );
    assert.equal(
      parseError("import [a", { dir }),
      "Testfile:1 - Error during parsing: Failed to use import pattern [a: syntax error in pattern",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("imported tokens name their file in errors", () => {
  const dir = tempDir({ "bad.conf": "\n\nwhoami }\n", "d/x": "" });
  try {
    assert.equal(
      parseError("a {\nimport bad.conf\n}", {
        dir,
        directives: new Set(["whoami"]),
      }),
      `${dir}/bad.conf:3 - Error during parsing: Unexpected '}' because no matching opening brace`,
    );
    assert.equal(
      parseError("import d", { dir }),
      `Testfile:1 - Error during parsing: Could not import ${dir}/d: is a directory`,
    );
    // A wildcard may sit in a directory element too, as in Go's Glob.
    assert.deepEqual(parse("import ?/x", { dir }), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("import as an ordinary argument is not expanded", () => {
  const [b] = parse("http://example.com {\n  basicauth / import password\n}");
  assert.deepEqual(texts(b!, "basicauth"), [
    "basicauth",
    "/",
    "import",
    "password",
  ]);
});

Deno.test("snippets: basic, across files, replayed with env, nested in blocks", () => {
  let blocks = parse(
    "(common) {\n  gzip foo\n  errors stderr\n}\nhttp://example.com {\n  import common\n}",
  );
  assert.equal(blocks.length, 1);
  assert.deepEqual(blocks[0]!.keys, ["http://example.com"]);
  assert.deepEqual(texts(blocks[0]!, "gzip"), ["gzip", "foo"]);
  assert.deepEqual(texts(blocks[0]!, "errors"), ["errors", "stderr"]);
  // Snippet tokens keep the definition's lines.
  assert.equal(blocks[0]!.tokens.get("gzip")![0]!.line, 2);

  const dir = tempDir({
    "site.conf": "http://example.com {\n  import common\n}\n",
  });
  try {
    blocks = parse("(common) {\n  gzip foo\n}\nimport site.conf", { dir });
    assert.equal(blocks.length, 1);
    assert.deepEqual(counts(blocks[0]!), { gzip: 2 });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }

  blocks = parse(
    "(s) {\n  dir1 {$V}\n}\na {\n  import s\n}\nb {\n  import s\n}",
    { env: { V: "x" } },
  );
  assert.deepEqual(blocks.map((b) => texts(b, "dir1")), [["dir1", "x"], [
    "dir1",
    "x",
  ]]);
  // An empty snippet is still a snippet.
  assert.deepEqual(
    parse("(e) {\n}\na {\n  import e\n}").map((b) => counts(b)),
    [{}],
  );
  // "(a) b" is not a snippet.
  assert.deepEqual(parse("(a) b {\n}")[0]!.keys, ["(a)", "b"]);
});

Deno.test("indirect snippet cycles and file cycles hit the caps", () => {
  // Snippets resolve at expansion time, so a2 (defined after b) is found.
  assert.match(
    parseError(
      "(a) {\n  import b\n}\n(b) {\n  import a2\n}\n(a2) {\n  import b\n}\nx {\n  import a\n}",
    ),
    /^Testfile:\d+ - Error during parsing: maximum snippet import depth \(10000\) exceeded$/,
  );
  // (s) alone at the end of a file is a key, not a snippet.
  assert.deepEqual(parse("(s)").map((b) => b.keys), [["(s)"]]);
  const dir = tempDir({
    "a.conf": "import b.conf\n",
    "b.conf": "import a.conf\n",
  });
  try {
    assert.match(
      parseError("import a.conf", { dir }),
      /^\/.*\.conf:1 - Error during parsing: maximum file import depth \(10000\) exceeded$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("snippet expansion is capped at 10000", () => {
  // (b) imports (a) twice; a chain of doublings blows past the cap.
  let text = "(s0) {\n  dir1\n}\n";
  for (let i = 1; i <= 15; i++) {
    text += `(s${i}) {\n  import s${i - 1}\n  import s${i - 1}\n}\n`;
  }
  text += "x {\n  import s15\n}";
  assert.match(
    parseError(text),
    /maximum snippet import depth \(10000\) exceeded$/,
  );
});

Deno.test("pathological input: deep nesting, long lines, random text", () => {
  const deep = "a {\nd " + "{\n".repeat(200000) + "}\n".repeat(200000) + "}";
  assert.deepEqual(counts(parse(deep)[0]!), { d: 400001 });
  assert.match(parseError("a {\nd " + "{ ".repeat(100000)), /Unexpected EOF$/);
  const alphabet = [
    "{",
    "}",
    "(",
    ")",
    "a",
    "b",
    ",",
    "\n",
    " ",
    '"',
    "\\",
    "#",
    "{$A}",
    "{$",
    "import",
    "import s",
    "(s) {",
    ":",
    ".",
  ];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const start = Date.now();
  for (let i = 0; i < 3000; i++) {
    let text = "";
    const len = rand(60);
    for (let k = 0; k < len; k++) text += alphabet[rand(alphabet.length)];
    try {
      parse(text, { env: { A: "{$A}x" }, directives: new Set(["a", "b"]) });
    } catch (e) {
      assert.ok(e instanceof CorefileError, `${JSON.stringify(text)}: ${e}`);
    }
  }
  assert.ok(Date.now() - start < 20000);
});

Deno.test("imports that expand to millions of tokens fail fast", () => {
  // Deliberate difference: CoreDNS would build all 4 million tokens.
  let text = `(s0) {\n  dir1${" x".repeat(999)}\n}\n`;
  for (let i = 1; i <= 12; i++) {
    text += `(s${i}) {\n  import s${i - 1}\n  import s${i - 1}\n}\n`;
  }
  text += "x {\n  import s12\n}";
  const start = Date.now();
  assert.match(
    parseError(text),
    /Error during parsing: imports expand to more than 2000000 tokens$/,
  );
  assert.ok(Date.now() - start < 5000);
});
