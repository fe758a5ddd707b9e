import assert from "node:assert/strict";
import { CorefileError, Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";

function dispenser(input: string): Dispenser {
  return new Dispenser("Testfile", tokenize(input, "Testfile"));
}

// caddy's dispenser_test.go

Deno.test("Dispenser.next() walks every token and stays on the last", () => {
  const d = dispenser(
    "host:port\n  dir1 arg1\n  dir2 arg2 arg3\n  dir3",
  );
  assert.equal(d.val(), "");
  for (
    const want of ["host:port", "dir1", "arg1", "dir2", "arg2", "arg3", "dir3"]
  ) {
    assert.equal(d.next(), true);
    assert.equal(d.val(), want);
  }
  assert.equal(d.next(), false);
  assert.equal(d.val(), "dir3");
});

Deno.test("Dispenser.nextArg() stays on the line", () => {
  const d = dispenser("dir1 arg1\n  dir2 arg2 arg3\n  dir3");
  assert.equal(d.next(), true);
  assert.equal(d.nextArg(), true);
  assert.equal(d.val(), "arg1");
  assert.equal(d.nextArg(), false);
  assert.equal(d.val(), "arg1");
  assert.equal(d.next(), true);
  assert.equal(d.val(), "dir2");
  assert.equal(d.nextArg(), true);
  assert.equal(d.nextArg(), true);
  assert.equal(d.val(), "arg3");
  assert.equal(d.nextArg(), false);
  assert.equal(d.next(), true);
  assert.equal(d.val(), "dir3");
  assert.equal(d.next(), false);
});

Deno.test("Dispenser.nextLine() only crosses lines", () => {
  const d = dispenser("host:port\n  dir1 arg1\n  dir2 arg2 arg3");
  assert.equal(d.nextLine(), true);
  assert.equal(d.val(), "host:port");
  assert.equal(d.nextLine(), true);
  assert.equal(d.val(), "dir1");
  assert.equal(d.nextLine(), false);
  d.next(); // arg1
  assert.equal(d.nextLine(), true);
  assert.equal(d.val(), "dir2");
  assert.equal(d.nextLine(), false);
  d.next(); // arg2
  assert.equal(d.nextLine(), false);
  d.next(); // arg3
  assert.equal(d.nextLine(), false);
  assert.equal(d.val(), "arg3");
});

Deno.test("Dispenser.nextBlock() steps one level and skips empty blocks", () => {
  const d = dispenser(
    "foobar1 {\n  sub1 arg1\n  sub2\n}\nfoobar2 {\n}",
  );
  assert.equal(d.nextBlock(), false);
  assert.equal(d.val(), "");
  d.next(); // foobar1
  assert.equal(d.nextBlock(), true);
  assert.equal(d.val(), "sub1");
  assert.equal(d.nextBlock(), true);
  assert.equal(d.val(), "arg1");
  assert.equal(d.nextBlock(), true);
  assert.equal(d.val(), "sub2");
  assert.equal(d.nextBlock(), false);
  assert.equal(d.val(), "}");
  d.next(); // foobar2
  assert.equal(d.nextBlock(), false); // empty block is as if it did not exist
  assert.equal(d.val(), "}");
  assert.equal(d.next(), false);
});

Deno.test("Dispenser.nextBlock() terminates on an unclosed block", () => {
  const d = dispenser("foobar {\n  sub1 arg1");
  d.next();
  assert.equal(d.nextBlock(), true);
  let steps = 0;
  while (d.nextBlock()) assert.ok(++steps < 10);
  assert.equal(steps, 1);
});

Deno.test("Dispenser.remainingArgs() stops before {", () => {
  const d = dispenser(
    "dir1 arg1 arg2 arg3\n  dir2 arg4 arg5\n  dir3 arg6 { arg7\n  dir4",
  );
  d.next();
  assert.deepEqual(d.remainingArgs(), ["arg1", "arg2", "arg3"]);
  d.next();
  assert.deepEqual(d.remainingArgs(), ["arg4", "arg5"]);
  d.next();
  assert.deepEqual(d.remainingArgs(), ["arg6"]);
  d.next(); // {
  assert.equal(d.val(), "{");
  d.next(); // arg7
  d.next(); // dir4
  assert.deepEqual(d.remainingArgs(), []);
});

Deno.test("Dispenser errors use CoreDNS's formats", () => {
  const d = dispenser("dir1 {\n}\ndir2 arg1 arg2");
  d.next();
  d.next(); // {
  assert.equal(
    d.argErr().message,
    "Testfile:1 - Error during parsing: Unexpected token '{', expecting argument",
  );
  d.next();
  d.next();
  d.next();
  d.next(); // arg2
  const e = d.argErr();
  assert.ok(e instanceof CorefileError);
  assert.equal(
    e.message,
    "Testfile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'arg2'",
  );
  assert.equal(e.file, "Testfile");
  assert.equal(e.line, 3);
  assert.equal(
    d.err("foobar").message,
    "Testfile:3 - Error during parsing: foobar",
  );
  assert.equal(
    d.syntaxErr("}").message,
    "Testfile:3 - Syntax error: Unexpected token 'arg2', expecting '}'",
  );
  // No token loaded: line 0 and the dispenser's file name.
  assert.equal(
    dispenser("").err("x").message,
    "Testfile:0 - Error during parsing: x",
  );
});

Deno.test("Dispenser names an imported token's file", () => {
  const d = new Dispenser("Corefile", [
    { file: "/etc/coredns/extra.conf", line: 7, text: "pprof" },
  ]);
  d.next();
  assert.equal(d.file(), "/etc/coredns/extra.conf");
  assert.equal(
    d.err("x").message,
    "/etc/coredns/extra.conf:7 - Error during parsing: x",
  );
});

// corefile.md §2.7 consequences the pprof setup relies on.

Deno.test("pprof { block } on one line: block's argument is }", () => {
  const d = dispenser("pprof { block }");
  d.next();
  assert.deepEqual(d.remainingArgs(), []);
  assert.equal(d.nextBlock(), true);
  assert.equal(d.val(), "block");
  assert.deepEqual(d.remainingArgs(), ["}"]);
  assert.equal(d.nextBlock(), false);
});

Deno.test("pprof with { on the next line: no block, { is the next token", () => {
  const d = dispenser("pprof\n{\nblock\n}");
  d.next();
  assert.deepEqual(d.remainingArgs(), []);
  assert.equal(d.nextBlock(), false);
  assert.equal(d.val(), "pprof");
  assert.equal(d.next(), true);
  assert.equal(d.val(), "{");
});

Deno.test("pprof { } is an absent block; the cursor ends on }", () => {
  const d = dispenser("pprof { }");
  d.next();
  assert.deepEqual(d.remainingArgs(), []);
  assert.equal(d.nextBlock(), false);
  assert.equal(d.val(), "}");
  assert.equal(d.next(), false);
});

Deno.test("a quoted token spanning lines does not break the next line", () => {
  const d = dispenser('log "a\nb" c\nd');
  d.next();
  assert.deepEqual(d.remainingArgs(), ["a\nb", "c"]);
  assert.equal(d.nextLine(), true);
  assert.equal(d.val(), "d");
});
