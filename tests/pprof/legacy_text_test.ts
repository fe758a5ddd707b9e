/**
 * `debug=1` bodies in Go's legacy text formats, read by the real client:
 * `go tool pprof` (Debian's golang-go) parses every one, with the values the
 * text states. Also: what the formats promise a reader (headers, records,
 * `#` frame lines with the record's addresses) and the fake addresses'
 * `/symbol` answers.
 */

import assert from "node:assert/strict";
import { goAvailable, startWorkload, waitFor } from "../_helpers.ts";
import { goToolPprof } from "../_go.ts";
import {
  Function as PprofFunction,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
} from "../../lib/deps.ts";
import { setSampleTypes } from "../../lib/profile/pprof.ts";
import {
  contentionProfileText,
  countProfileText,
  heapProfileText,
  legacySymbols,
} from "../../lib/profile/text.ts";

const hasGo = goAvailable();

/** The go tool pprof half of a check: a step of its own, shown as ignored without Go. */
function goStep(t: Deno.TestContext, fn: () => Promise<void>) {
  return t.step({ name: "go tool pprof reads it", ignore: !hasGo, fn });
}

/** One record of a legacy body: its values, addresses and `#` frames. */
interface TextRecord {
  values: number[];
  addresses: number[];
  frames: { address: number; name: string; file: string; line: number }[];
}

const FRAME_LINE = /^#\t0x([0-9a-f]+)\t(.+)\+0x0\t(.*):(\d+)$/;

/**
 * Splits a body into header lines and records, failing on any line that is
 * neither a comment, a blank, nor a record `record` recognises (the legacy
 * parsers are as strict: an unknown line makes the body unparsable).
 */
function parseRecords(
  body: string,
  headerLines: number,
  record: RegExp,
): { header: string[]; records: TextRecord[] } {
  assert.ok(body.endsWith("\n"), "ends with a newline");
  const lines = body.slice(0, -1).split("\n");
  const header = lines.slice(0, headerLines);
  const records: TextRecord[] = [];
  let current: TextRecord | undefined;
  for (const line of lines.slice(headerLines)) {
    const frame = line.match(FRAME_LINE);
    if (frame) {
      assert.ok(current, `frame line outside a record: ${line}`);
      current.frames.push({
        address: parseInt(frame[1]!, 16),
        name: frame[2]!,
        file: frame[3]!,
        line: Number(frame[4]),
      });
      continue;
    }
    if (line === "" || line.startsWith("# ")) {
      current = undefined;
      continue;
    }
    const m = line.match(record);
    assert.ok(m, `not a record: ${JSON.stringify(line)}`);
    const [values, at] = [m.slice(1, -1), m.at(-1)!];
    current = {
      values: values.map(Number),
      addresses: at.trim()
        ? at.trim().split(" ").map((a) => parseInt(a, 16))
        : [],
      frames: [],
    };
    records.push(current);
  }
  for (const r of records) {
    // Go's `#` lines give each frame's PC: the return address − 1.
    assert.deepEqual(
      r.frames.map((f) => f.address),
      r.addresses.map((a) => a - 1),
      "one # line per address, in order",
    );
    for (const f of r.frames) assert.ok(f.name && f.file, "named frames");
  }
  return { header, records };
}

/** The sample values `go tool pprof -raw` printed, one array per sample. */
function rawSamples(stdout: string): number[][] {
  const section = stdout.split("\nSamples:\n")[1]?.split("\nLocations")[0];
  assert.ok(section !== undefined, stdout);
  return section.split("\n")
    .map((line) => line.match(/^\s+(-?\d+(?:\s+-?\d+)*): [\d ]*$/))
    .filter((m) => m !== null)
    .map((m) => m[1]!.trim().split(/\s+/).map(Number));
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Sorted copies, to compare multisets of samples. */
function sorted(rows: number[][]): string[] {
  return rows.map((r) => r.join(" ")).sort();
}

Deno.test("debug=1: Go's legacy text formats, parsed by go tool pprof with the values they state", async (t) => {
  const workload = await startWorkload("block");
  const base = `${workload.base}/debug/pprof`;
  const text = async (name: string) => {
    const response = await fetch(`${base}/${name}?debug=1`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; charset=utf-8",
    );
    return await response.text();
  };
  /**
   * `go tool pprof -top URL?debug=1` (the client over HTTP) and `-raw` on
   * `body` saved to a file: the values of the very body we checked (the
   * live one moves between two fetches).
   */
  const pprof = async (name: string, body: string) => {
    const url = `${base}/${name}?debug=1`;
    const top = await goToolPprof(["-top", url]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /^\s+flat\s+flat%\s+sum%\s+cum\s+cum%$/m);
    // Names come back through /symbol: no frame is left unresolved.
    assert.doesNotMatch(top.stdout, /<unknown>/);
    console.log(`go tool pprof -top '${url}':\n${top.stdout}`);
    const saved = await Deno.makeTempFile({ suffix: `.${name}.txt` });
    try {
      await Deno.writeTextFile(saved, body);
      const raw = await goToolPprof(["-raw", saved]);
      assert.equal(raw.code, 0, raw.stderr);
      return { raw: raw.stdout, top: top.stdout };
    } finally {
      await Deno.remove(saved);
    }
  };
  try {
    // The workload's alpha/beta runs hold the loop longer than the floor.
    await waitFor("a recorded stall", async () => {
      if (/^\d+ \d+ @ 0x/m.test(await text("block"))) return true;
      await new Promise((r) => setTimeout(r, 250));
      return false;
    }, 20_000);

    for (const name of ["heap", "allocs"]) {
      await t.step(`${name}: 'heap profile:' records`, async (t) => {
        const body = await text(name);
        const { header, records } = parseRecords(
          body,
          1,
          /^(\d+): (\d+) \[(\d+): (\d+)\] @((?: 0x[0-9a-f]+)*)$/,
        );
        const h = header[0]!.match(
          /^heap profile: (\d+): (\d+) \[0: 0\] @ heapprofile$/,
        );
        assert.ok(h, header[0]);
        assert.ok(records.length > 0);
        // In-use mode: the in-use pair carries the values, allocs' pair is 0.
        assert.ok(records.every((r) => r.values[2] === 0 && r.values[3] === 0));
        assert.equal(Number(h[1]), sum(records.map((r) => r.values[0]!)));
        assert.equal(Number(h[2]), sum(records.map((r) => r.values[1]!)));
        assert.match(body, /^# inuse_objects\/count: inuse_space\/bytes, /m);
        assert.match(body, /^# HeapUsed = \d+$/m);
        const retain = records.find((r) =>
          r.frames[0]?.name === "retainMemory"
        );
        assert.ok(retain, body);
        assert.match(retain.frames[0]!.file, /fixtures\/workload\.ts$/);
        assert.ok(retain.frames[0]!.line > 0);

        // go tool pprof reads the text as it states (a step of its own, skipped without Go).
        await goStep(t, async () => {
          const { raw, top } = await pprof(name, body);
          assert.match(raw, /^objects\/count space\/bytes$/m);
          // As stated: no second scaling by the parser.
          assert.deepEqual(
            sorted(rawSamples(raw)),
            sorted(records.map((r) => r.values.slice(0, 2))),
          );
          assert.match(top, /^Type: space$/m);
          assert.match(top, /\bretainMemory$/m, "names resolved by /symbol");
        });
      });
    }

    await t.step(
      "block: '--- contention:' records in nanoseconds",
      async (t) => {
        const body = await text("block");
        const { header, records } = parseRecords(
          body,
          3,
          /^(\d+) (\d+) @((?: 0x[0-9a-f]+)+)$/,
        );
        assert.deepEqual(header, [
          "--- contention:",
          "cycles/second=1000000000",
          "sampling period=1",
        ]);
        assert.match(body, /^# contentions\/count delay\/nanoseconds; /m);
        assert.match(body, /^# coredeno: event-loop stalls/m);
        assert.ok(records.length > 0);
        assert.ok(
          records.some((r) =>
            r.frames.some((f) => /^(alpha|beta)$/.test(f.name))
          ),
          body,
        );

        // go tool pprof reads the text as it states (a step of its own, skipped without Go).
        await goStep(t, async () => {
          const { raw, top } = await pprof("block", body);
          assert.match(raw, /^contentions\/count delay\/nanoseconds$/m);
          assert.deepEqual(
            sorted(rawSamples(raw)),
            // Text: DELAY COUNT; profile: contentions, delay.
            sorted(records.map((r) => [r.values[1]!, r.values[0]!])),
          );
          assert.match(top, /^Type: delay$/m);
        });
      },
    );

    await t.step("mutex: '--- mutex:', no records", async (t) => {
      const body = await text("mutex");
      const { header, records } = parseRecords(body, 3, /^(\d+) (\d+) @(.*)$/);
      assert.deepEqual(header, [
        "--- mutex:",
        "cycles/second=1000000000",
        "sampling period=1",
      ]);
      assert.deepEqual(records, []);
      assert.match(
        body,
        /^# coredeno: JavaScript on the event loop takes no locks/m,
      );
      // go tool pprof reads the text as it states (a step of its own, skipped without Go).
      await goStep(t, async () => {
        const { top } = await pprof("mutex", body);
        assert.match(top, /^Showing nodes accounting for 0, 0% of 0 total$/m);
      });
    });

    await t.step("goroutine: 'goroutine profile: total 1'", async (t) => {
      const body = await text("goroutine");
      const { header, records } = parseRecords(
        body,
        1,
        /^(\d+) @((?: 0x[0-9a-f]+)+)$/,
      );
      assert.deepEqual(header, ["goroutine profile: total 1"]);
      assert.equal(records.length, 1);
      assert.deepEqual(records[0]!.values, [1]);
      assert.match(records[0]!.frames[0]!.name, /^main: file:\/\/\//);
      assert.match(body, /^# coredeno: one entry per live JavaScript isolate/m);
      // go tool pprof reads the text as it states (a step of its own, skipped without Go).
      await goStep(t, async () => {
        const { raw, top } = await pprof("goroutine", body);
        assert.deepEqual(rawSamples(raw), [[1]]);
        assert.match(top, /^Showing nodes accounting for 1, 100% of 1 total$/m);
      });
    });

    await t.step("threadcreate: 'threadcreate profile: total 1'", async (t) => {
      const body = await text("threadcreate");
      const { header, records } = parseRecords(
        body,
        1,
        /^(\d+) @((?: 0x[0-9a-f]+)+)$/,
      );
      // In-process (no watcher), the one isolate it sees: main.
      assert.deepEqual(header, ["threadcreate profile: total 1"]);
      assert.deepEqual(records.map((r) => r.values), [[1]]);
      // go tool pprof reads the text as it states (a step of its own, skipped without Go).
      await goStep(t, async () => {
        const { top } = await pprof("threadcreate", body);
        assert.match(top, /^Showing nodes accounting for 1, 100% of 1 total$/m);
      });
    });

    await t.step(
      "a frame keeps its address across bodies and profiles",
      async () => {
        const addressOf = (body: string, name: string) =>
          body.match(new RegExp(`^#\\t(0x[0-9a-f]+)\\t${name}\\+0x0\\t`, "m"))
            ?.[1];
        const heap = await text("heap");
        const allocs = await text("allocs");
        const first = addressOf(heap, "retainMemory");
        assert.ok(first, heap);
        assert.equal(addressOf(allocs, "retainMemory"), first);
        assert.equal(addressOf(await text("heap"), "retainMemory"), first);
      },
    );
  } finally {
    await workload.stop();
  }
});

/** A profile of one stack (leaf first), hand-built. */
function oneStack(
  types: [string, string][],
  stack: [string, string, number][],
  values: number[],
): Profile {
  const p = new Profile({ stringTable: new StringTable() });
  setSampleTypes(p, types);
  const t = p.stringTable;
  stack.forEach(([name, file, line], i) => {
    p.function.push(
      new PprofFunction({
        id: i + 1,
        name: t.dedup(name),
        systemName: t.dedup(name),
        filename: t.dedup(file),
      }),
    );
    p.location.push(
      new Location({
        id: i + 1,
        line: [new Line({ functionId: i + 1, line })],
      }),
    );
  });
  p.sample.push(
    new Sample({ locationId: stack.map((_, i) => i + 1), value: values }),
  );
  return p;
}

Deno.test("debug=1 text: the formats' edge cases, and /symbol answers for the fake addresses", () => {
  // Allocation mode: the allocation pair carries the values.
  const allocs = heapProfileText(
    oneStack(
      [["alloc_objects", "count"], ["alloc_space", "bytes"]],
      [["makeBuffer", "/srv/app/buf.ts", 12], ["main", "/srv/app/main.ts", 3]],
      [4, 4096],
    ),
  );
  assert.match(allocs, /^heap profile: 0: 0 \[4: 4096\] @ heapprofile\n/);
  const record = allocs.match(
    /^0: 0 \[4: 4096\] @ (0x[0-9a-f]+) (0x[0-9a-f]+)$/m,
  );
  assert.ok(record, allocs);
  const [leaf, caller] = [parseInt(record[1]!, 16), parseInt(record[2]!, 16)];
  assert.match(
    allocs,
    new RegExp(
      `^#\\t0x${
        (leaf - 1).toString(16)
      }\\tmakeBuffer\\+0x0\\t/srv/app/buf\\.ts:12$`,
      "m",
    ),
  );

  // Bytes with a count rounded to 0 would be refused by the parser.
  const tiny = heapProfileText(
    oneStack(
      [["inuse_objects", "count"], ["inuse_space", "bytes"]],
      [["f", "/a.ts", 1]],
      [0, 64],
    ),
  );
  assert.match(tiny, /^1: 64 \[0: 0\] @ 0x[0-9a-f]+$/m);

  // Fractional contention counts round; a stackless count sample has no
  // place in the format but counts in the total.
  const block = contentionProfileText(
    "contention",
    oneStack(
      [["contentions", "count"], ["delay", "nanoseconds"]],
      [["stall", "/a.ts", 5]],
      [1.6, 2_500_000.4],
    ),
  );
  assert.match(block, /^2500000 2 @ 0x[0-9a-f]+$/m);
  const count = new Profile({ stringTable: new StringTable() });
  setSampleTypes(count, [["goroutine", "count"]]);
  count.sample.push(new Sample({ locationId: [], value: [3] }));
  assert.equal(
    countProfileText("goroutine", count),
    "goroutine profile: total 3\n# goroutine/count\n",
  );

  // What go tool pprof posts to /symbol: the addresses − 1, joined by +.
  assert.deepEqual(
    legacySymbols(
      `0x${(leaf - 1).toString(16)}+0x${(caller - 1).toString(16)}`,
    ),
    [
      `0x${(leaf - 1).toString(16)} makeBuffer`,
      `0x${(caller - 1).toString(16)} main`,
    ],
  );
  // Decimal works as in Go; junk, zero and unknown addresses are skipped.
  assert.deepEqual(legacySymbols(`${leaf - 1}+junk+0+0x1`), [
    `0x${(leaf - 1).toString(16)} makeBuffer`,
  ]);
  assert.deepEqual(legacySymbols("0xfffffff0"), []);
});
