/**
 * The profile-content checks every served profile must pass (endpoints.md
 * §6, checks 29–33), reusable by any test that fetches or builds a profile.
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Profile } from "../../lib/deps.ts";

type Numeric = number | bigint;

function n(value: Numeric | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  return Number(value >= 1n << 63n ? value - (1n << 64n) : value);
}

/**
 * Decodes `bytesOrProfile` (gzipped or plain `profile.proto` bytes, or a
 * `Profile`) and asserts checks 29–33; returns the decoded profile.
 *
 * 29. string_table[0] is "" and every string index is in range.
 * 30. every sample has one value per sample type; every referenced
 *     location, function and mapping exists; no id is 0; ids are unique.
 * 31. every location has a line whose function has a non-empty name and a
 *     non-empty file (so no client needs `/debug/pprof/symbol`).
 * 32. mappings, if any, have has_functions.
 * 33. sample types are present even with zero samples; bytes are non-empty.
 */
export function assertProfileInvariants(
  bytesOrProfile: Uint8Array | Profile,
  label = "profile",
): Profile {
  let p: Profile;
  if (bytesOrProfile instanceof Uint8Array) {
    assert.ok(bytesOrProfile.length > 0, `${label}: empty body (check 33)`);
    const gzipped = bytesOrProfile[0] === 0x1f && bytesOrProfile[1] === 0x8b;
    const raw = gzipped ? gunzipSync(bytesOrProfile) : bytesOrProfile;
    assert.ok(raw.length > 0, `${label}: empty profile.proto (check 33)`);
    p = Profile.decode(raw);
  } else {
    // Round-trip, so what is checked is what a client would decode.
    p = Profile.decode(bytesOrProfile.encode());
  }

  // 29
  const strings = p.stringTable.strings;
  assert.equal(strings[0], "", `${label}: string_table[0] must be "" (29)`);
  const inRange = (index: Numeric | undefined, what: string) => {
    const i = n(index);
    assert.ok(
      Number.isInteger(i) && i >= 0 && i < strings.length,
      `${label}: ${what} string index ${i} out of range (29)`,
    );
  };
  for (const v of p.sampleType) {
    inRange(v.type, "sample_type.type");
    inRange(v.unit, "sample_type.unit");
  }
  if (p.periodType) {
    inRange(p.periodType.type, "period_type.type");
    inRange(p.periodType.unit, "period_type.unit");
  }
  for (const c of p.comment) inRange(c, "comment");
  inRange(p.defaultSampleType, "default_sample_type");
  inRange(p.dropFrames, "drop_frames");
  inRange(p.keepFrames, "keep_frames");
  for (const f of p.function) {
    inRange(f.name, "function.name");
    inRange(f.systemName, "function.system_name");
    inRange(f.filename, "function.filename");
  }
  for (const m of p.mapping) {
    inRange(m.filename, "mapping.filename");
    inRange(m.buildId, "mapping.build_id");
  }
  for (const s of p.sample) {
    for (const l of s.label) {
      inRange(l.key, "label.key");
      inRange(l.str, "label.str");
      inRange(l.numUnit, "label.num_unit");
    }
  }

  // 30
  const ids = (
    kind: string,
    items: { id: Numeric }[],
  ): Map<number, number> => {
    const seen = new Map<number, number>();
    items.forEach((item, index) => {
      const id = n(item.id);
      assert.notEqual(id, 0, `${label}: ${kind} with reserved id 0 (30)`);
      assert.ok(!seen.has(id), `${label}: duplicate ${kind} id ${id} (30)`);
      seen.set(id, index);
    });
    return seen;
  };
  const functions = ids("function", p.function);
  const locations = ids("location", p.location);
  const mappings = ids("mapping", p.mapping);
  for (const [i, s] of p.sample.entries()) {
    assert.equal(
      s.value.length,
      p.sampleType.length,
      `${label}: sample ${i} has ${s.value.length} values vs ${p.sampleType.length} types (30)`,
    );
    for (const id of s.locationId) {
      assert.ok(
        locations.has(n(id)),
        `${label}: sample ${i} references missing location ${n(id)} (30)`,
      );
    }
  }
  for (const loc of p.location) {
    const m = n(loc.mappingId);
    assert.ok(
      m === 0 || mappings.has(m),
      `${label}: location ${n(loc.id)} references missing mapping ${m} (30)`,
    );
    // 31
    assert.ok(
      loc.line.length > 0,
      `${label}: location ${n(loc.id)} has no line (31)`,
    );
    for (const line of loc.line) {
      const fi = functions.get(n(line.functionId));
      assert.ok(
        fi !== undefined,
        `${label}: location ${n(loc.id)} has a line with missing function ${
          n(line.functionId)
        } (30)`,
      );
      const f = p.function[fi]!;
      assert.ok(
        strings[n(f.name)],
        `${label}: function ${n(f.id)} has no name (31)`,
      );
      assert.ok(
        strings[n(f.filename)],
        `${label}: function ${n(f.id)} (${
          strings[n(f.name)]
        }) has no file (31)`,
      );
    }
  }

  // 32
  for (const m of p.mapping) {
    assert.ok(
      m.hasFunctions,
      `${label}: mapping ${n(m.id)} lacks has_functions (32)`,
    );
  }

  // 33
  assert.ok(p.sampleType.length > 0, `${label}: no sample types (33)`);
  return p;
}
