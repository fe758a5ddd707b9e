/** The viewer's kept profiles: random ids, newest first, bounded in count and bytes. */

import assert from "node:assert/strict";
import {
  KEPT_BYTES,
  KEPT_PROFILES,
  ProfileStore,
} from "../../lib/pprof/ui/store.ts";
import { diffPair } from "./_profiles.ts";

Deno.test("ProfileStore keeps the last profiles, drops the oldest, refuses junk", () => {
  const store = new ProfileStore();
  const bytes = diffPair().now;
  const ids = Array.from(
    { length: KEPT_PROFILES + 2 },
    (_, i) => store.add(bytes, { title: `p${i}`, source: "upload" }).id,
  );
  assert.equal(new Set(ids).size, ids.length, "ids are unique");
  assert.ok(ids.every((id) => /^[0-9a-f]{12}$/.test(id)));
  assert.equal(store.list().length, KEPT_PROFILES);
  assert.equal(store.list()[0]!.title, `p${KEPT_PROFILES + 1}`, "newest first");
  assert.equal(store.get(ids[0]!), undefined, "the oldest went first");
  assert.equal(store.get(ids[1]!), undefined);
  assert.equal(store.get(ids[2]!)?.title, "p2");
  assert.throws(
    () =>
      store.add(new TextEncoder().encode("junk"), {
        title: "x",
        source: "upload",
      }),
    /not a pprof profile/,
  );

  // Past the byte bound, older profiles go even under the count bound; one
  // profile larger than the bound alone is still kept.
  const big = new Uint8Array(KEPT_BYTES / 2 + 1);
  big.set(bytes);
  const first = store.add(big, { title: "big1", source: "upload" });
  const second = store.add(big, { title: "big2", source: "upload" });
  assert.equal(store.get(first.id), undefined);
  assert.equal(store.list().length, 1);
  assert.equal(store.list()[0]!.id, second.id);
});
