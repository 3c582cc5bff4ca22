/**
 * The storage contracts, as one table of cases run against every backend:
 * `local` (on a temporary root) and `memory`. A case sees only the `Store`
 * contract, so what passes here holds whichever backend a user picks. The
 * last test opens the memory backend the way a library user would.
 */

import assert from "node:assert/strict";
import { isServinError, ServinError } from "../core/errors.ts";
import { DEFAULT_LIMITS, type ImageRecord } from "../core/image.ts";
import { sha256Hex } from "../plugins/formats/digest.ts";
import type { StagedBlob, Store } from "../core/kinds.ts";
import { Registry } from "../core/registry.ts";
import { openServin } from "../mod.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";
import { localStorage } from "../plugins/storage/local.ts";
import { DEFAULT_CONFIG } from "../plugins/ingest/config.ts";
import { memoryStorage } from "../plugins/storage/memory.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const enc = new TextEncoder();

/** A stream of `bytes` in chunks of at most `chunk` bytes (several reads, as from a socket). */
function streamOf(bytes: Uint8Array, chunk = 7): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += chunk) parts.push(bytes.slice(off, off + chunk));
  return ReadableStream.from(parts);
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Rejects with a ServinError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(isServinError(err), `expected a ServinError, got ${err}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Stages `text` as a blob with its digest and size given. */
async function stage(store: Store, text: string): Promise<StagedBlob> {
  const bytes = enc.encode(text);
  return await store.content.ingest(streamOf(bytes), {
    digest: sha256Hex(bytes),
    size: bytes.length,
  });
}

/** An index record whose ID is `config`'s digest. */
function record(
  config: string,
  parts: { layers?: string[]; blobs?: string[]; tags?: string[] } = {},
): ImageRecord {
  return {
    id: sha256Hex(config),
    repo_tags: parts.tags ?? [],
    created: "2026-01-01T00:00:00Z",
    size: 0,
    layers: parts.layers ?? [],
    blobs: parts.blobs ?? [],
    rootfs_type: "layers",
    rootfs_path: "",
    config: { ...structuredClone(DEFAULT_CONFIG), env: [] },
    metadata: {},
  };
}

/** A small layer: a directory, two files (11 bytes), a hardlink and a symlink. */
const LAYER = buildTar([
  { name: "dir/", type: "5" },
  { name: "dir/a", body: "hello" },
  { name: "b", body: "world!" },
  { name: "dir/link", type: "1", linkname: "dir/a" },
  { name: "sym", type: "2", linkname: "dir/a" },
]);

/** Hostile layer entries, and the refusal every backend gives them, word for word. */
const REFUSALS: [FixtureEntry[], string][] = [
  [
    [{ name: "l", type: "2", linkname: "/etc" }, { name: "l/passwd", body: "x" }],
    'entry "l/passwd" has a parent "l" that is a symlink',
  ],
  [
    [{ name: "s", type: "2", linkname: "/" }, { name: "h", type: "1", linkname: "s/etc/passwd" }],
    'entry "h" has a parent "s" that is a symlink',
  ],
  [
    [{ name: "h", type: "1", linkname: "../../etc/passwd" }],
    'entry "h" is a hardlink to "../../etc/passwd", which escapes the image root (".." component)',
  ],
  [
    [{ name: "h", type: "1", linkname: "/etc/passwd" }],
    'entry "h" is a hardlink to "/etc/passwd", which has an absolute path',
  ],
  [
    [{ name: "h", type: "1", linkname: "nope" }],
    'entry "h" is a hardlink to "nope", which is not in the archive',
  ],
  [
    [{ name: "d/", type: "5" }, { name: "h", type: "1", linkname: "d" }],
    'entry "h" is a hardlink to a directory ("d")',
  ],
  [[{ name: "./", type: "2", linkname: "/" }], 'entry "./" would replace the image root'],
  [
    [{ name: "f", body: "x" }, { name: "f/g", body: "y" }],
    'entry "f/g" has a parent "f" that is not a directory',
  ],
  [
    [{ name: "etc/.wh..wh.x", body: "" }],
    'entry "etc/.wh..wh.x" is a malformed whiteout ".wh..wh.x"',
  ],
  [
    [{ name: "etc/.wh.passwd", type: "5" }],
    'entry "etc/.wh.passwd" is a whiteout but not a regular file',
  ],
  [[{ name: "s", type: "2", linkname: "" }], 'entry "s" is a symlink with an empty target'],
];

/** Stores an image with a config blob and the small layer; returns its parts. */
async function storeImage(store: Store, config: string) {
  const blob = await stage(store, config);
  const layer = await store.layers.apply(streamOf(LAYER, 512), { label: "layer.tar" });
  const image = record(config, { layers: [layer.diffId], blobs: [blob.digest] });
  await store.index.transaction(async (tx) => {
    await tx.commit(blob);
    await tx.commit(layer);
    tx.images.push(image);
  });
  return { blob, layer, image };
}

type Case = (store: Store) => Promise<void>;

const CASES: Record<string, Case> = {
  "a committed blob reads back with its digest and size": async (store) => {
    const blob = await stage(store, "config bytes");
    assert.equal(blob.kind, "blob");
    assert.equal(blob.digest, sha256Hex("config bytes"));
    assert.equal(blob.size, 12);
    await store.index.transaction(async (tx) => {
      await tx.commit(blob);
      tx.images.push(record("config bytes"));
    });
    assert.deepEqual(await store.content.info(blob.digest), { digest: blob.digest, size: 12 });
    const back = await bytesOf(await store.content.read(blob.digest));
    assert.equal(new TextDecoder().decode(back), "config bytes");
  },

  "ingest without expectations computes the digest and size": async (store) => {
    const bytes = enc.encode("no descriptor");
    const blob = await store.content.ingest(streamOf(bytes));
    assert.equal(blob.digest, sha256Hex(bytes));
    assert.equal(blob.size, bytes.length);
    await blob.discard();
  },

  "ingest with a wrong digest fails and stores nothing": async (store) => {
    const bytes = enc.encode("the real bytes");
    const wrong = sha256Hex("other bytes");
    await rejectsWith(store.content.ingest(streamOf(bytes), { digest: wrong }), "invalid-archive");
    assert.equal(await store.content.info(wrong), undefined);
    assert.equal(await store.content.info(sha256Hex(bytes)), undefined);
    assert.deepEqual(await collect(store.content.walk()), []);
  },

  "a stream of expected.size + 1 bytes fails; one of expected.size passes": async (store) => {
    const bytes = enc.encode("0123456789");
    await rejectsWith(store.content.ingest(streamOf(bytes), { size: 9 }), "limit-exceeded");
    const staged = await store.content.ingest(streamOf(bytes), { size: 10 });
    assert.equal(staged.size, 10);
    await staged.discard();
  },

  "an endless stream fails at expected.size + 1 without being read on": async (store) => {
    const CHUNK = 1024;
    const size = 10_000;
    let pulled = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Endless to the store; the bound only keeps a broken store from hanging the test.
        if (pulled > 1024 * CHUNK) return controller.error(new Error("read on far too long"));
        pulled += CHUNK;
        controller.enqueue(new Uint8Array(CHUNK).fill(7));
      },
      cancel() {
        cancelled = true;
      },
    });
    await rejectsWith(store.content.ingest(endless, { size }), "limit-exceeded");
    const after = pulled;
    // A few chunks of read-ahead in a pipeline are fine; reading on is not.
    assert.ok(after <= size + 16 * CHUNK, `${after} bytes were pulled for a ${size}-byte blob`);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.ok(pulled <= after + 2 * CHUNK, "the stream was read on after the failure");
    // Released, not left open: a network source closes its connection on cancel.
    assert.ok(cancelled, "the stream was not cancelled");
    assert.deepEqual(await collect(store.content.walk()), []);
  },

  "a stream shorter than expected.size fails": async (store) => {
    const bytes = enc.encode("short");
    await rejectsWith(store.content.ingest(streamOf(bytes), { size: 6 }), "invalid-archive");
    assert.deepEqual(await collect(store.content.walk()), []);
  },

  "staged blobs and layers are invisible until a transaction commits them": async (store) => {
    const blob = await stage(store, "staged only");
    const layer = await store.layers.apply(streamOf(LAYER), { label: "layer.tar" });
    assert.equal(await store.content.info(blob.digest), undefined);
    await rejectsWith(store.content.read(blob.digest), "not-found");
    assert.deepEqual(await collect(store.content.walk()), []);
    assert.equal(await store.layers.info(layer.diffId), undefined);
    assert.deepEqual(await collect(store.layers.walk()), []);
    // The staged blob itself can be read back (a source checks what it staged).
    assert.equal(new TextDecoder().decode(await bytesOf(await blob.read())), "staged only");
    await store.index.transaction(async (tx) => {
      await tx.commit(blob);
      await tx.commit(layer);
      tx.images.push(record("staged only", { layers: [layer.diffId] }));
    });
    assert.equal((await store.content.info(blob.digest))?.size, 11);
    assert.equal((await store.layers.info(layer.diffId))?.size, 11);
  },

  "what a failed transaction committed is not stored, and discard throws it away": async (
    store,
  ) => {
    const blob = await stage(store, "doomed");
    const layer = await store.layers.apply(streamOf(LAYER), { label: "layer.tar" });
    await assert.rejects(
      store.index.transaction(async (tx) => {
        await tx.commit(blob);
        await tx.commit(layer);
        tx.images.push(record("doomed", { layers: [layer.diffId] }));
        throw new Error("the caller changed its mind");
      }),
      /changed its mind/,
    );
    assert.deepEqual(await store.index.list(), []);
    assert.equal(await store.content.info(blob.digest), undefined);
    assert.equal(await store.layers.info(layer.diffId), undefined);
    await blob.discard();
    await layer.discard();
    await blob.discard(); // twice is harmless
    // Once discarded, it cannot be committed.
    await assert.rejects(store.index.transaction((tx) => tx.commit(blob)));
    assert.deepEqual(await collect(store.content.walk()), []);
    assert.deepEqual(await collect(store.layers.walk()), []);
  },

  "discard after commit changes nothing": async (store) => {
    const { blob, layer } = await storeImage(store, "kept");
    await blob.discard();
    await layer.discard();
    assert.equal((await store.content.info(blob.digest))?.size, 4);
    assert.equal((await store.layers.info(layer.diffId))?.size, 11);
  },

  "a transaction that throws changes nothing and collects nothing": async (store) => {
    const { blob, layer, image } = await storeImage(store, "survivor");
    await assert.rejects(
      store.index.transaction((tx) => {
        tx.images.length = 0;
        tx.leases["someone"] = { layers: [layer.diffId] };
        throw new Error("abort");
      }),
      /abort/,
    );
    assert.deepEqual(await store.index.list(), [image]);
    assert.equal((await store.content.info(blob.digest))?.size, 8);
    assert.equal((await store.layers.info(layer.diffId))?.size, 11);
    // The lease set in the failed transaction is not there: removing the image collects all.
    await store.index.transaction((tx) => void (tx.images.length = 0));
    assert.equal(await store.content.info(blob.digest), undefined);
    assert.equal(await store.layers.info(layer.diffId), undefined);
  },

  "removing an image collects its blobs and layers, not what another image shares": async (
    store,
  ) => {
    const one = await storeImage(store, "one");
    const two = await storeImage(store, "two");
    assert.equal(one.layer.diffId, two.layer.diffId);
    await store.index.transaction((tx) => {
      tx.images.splice(tx.images.findIndex((img) => img.id === one.image.id), 1);
    });
    assert.equal(await store.content.info(one.blob.digest), undefined);
    assert.equal((await store.content.info(two.blob.digest))?.size, 3);
    assert.equal((await store.layers.info(one.layer.diffId))?.size, 11);
    await store.index.transaction((tx) => void (tx.images.length = 0));
    assert.deepEqual(await collect(store.content.walk()), []);
    assert.deepEqual(await collect(store.layers.walk()), []);
  },

  "a lease keeps a layer after its image is removed; deleting the lease collects it": async (
    store,
  ) => {
    const { blob, layer, image } = await storeImage(store, "leased");
    await store.index.transaction((tx) => {
      tx.leases["container-1"] = { image: image.id, layers: [layer.diffId] };
    });
    await store.index.transaction((tx) => void (tx.images.length = 0));
    assert.equal((await store.layers.info(layer.diffId))?.size, 11);
    // A lease keeps layers, not the image's blobs.
    assert.equal(await store.content.info(blob.digest), undefined);
    await store.index.transaction((tx) => {
      assert.deepEqual(tx.leases["container-1"]?.layers, [layer.diffId]);
      delete tx.leases["container-1"];
    });
    assert.equal(await store.layers.info(layer.diffId), undefined);
  },

  "apply gives the tar's sha256 as diffId, its file bytes as size, its entry count": async (
    store,
  ) => {
    const layer = await store.layers.apply(streamOf(LAYER, 100), { label: "layer.tar" });
    assert.equal(layer.kind, "layer");
    assert.equal(layer.diffId, sha256Hex(LAYER));
    assert.equal(layer.size, 11);
    assert.equal(layer.entries, 5);
    await store.index.transaction(async (tx) => {
      await tx.commit(layer);
      tx.images.push(record("c", { layers: [layer.diffId] }));
    });
    assert.deepEqual(await store.layers.info(layer.diffId), { diffId: layer.diffId, size: 11 });
    assert.deepEqual(await collect(store.layers.walk()), [{ diffId: layer.diffId, size: 11 }]);
  },

  "apply takes a known diffId as given": async (store) => {
    const known = sha256Hex("computed elsewhere");
    const layer = await store.layers.apply(streamOf(LAYER), { label: "x", knownDiffId: known });
    assert.equal(layer.diffId, known);
    await layer.discard();
  },

  "apply takes a diffId known once the stream has ended, with its size": async (store) => {
    const known = Promise.resolve({ digest: sha256Hex(LAYER), size: LAYER.length });
    const layer = await store.layers.apply(streamOf(LAYER), { label: "x", knownDiffId: known });
    assert.equal(layer.diffId, sha256Hex(LAYER));
    await layer.discard();
  },

  "ingest with a known digest still refuses bytes that are not the expected ones": async (
    store,
  ) => {
    const bytes = enc.encode("tampered bytes");
    const knownDigest = Promise.resolve({ digest: sha256Hex(bytes), size: bytes.length });
    const expected = { digest: sha256Hex("the bytes described"), knownDigest };
    await rejectsWith(store.content.ingest(streamOf(bytes), expected), "invalid-archive");
    const sized = { digest: sha256Hex(bytes), size: bytes.length - 1, knownDigest };
    await rejectsWith(store.content.ingest(streamOf(bytes), sized), "limit-exceeded");
    const failed = Promise.reject(new ServinError("invalid-archive", "corrupt gzip data"));
    failed.catch(() => {});
    await rejectsWith(
      store.content.ingest(streamOf(bytes), { digest: sha256Hex(bytes), knownDigest: failed }),
      "invalid-archive",
    );
    await store.index.transaction(() => {});
    assert.deepEqual(await collect(store.content.walk()), []);
  },

  "apply refuses absolute names and .. components, and stages nothing": async (store) => {
    for (const name of ["/etc/passwd", "a/../../etc/passwd", "../x"]) {
      const tar = buildTar([{ name: "ok", body: "fine" }, { name, body: "evil" }]);
      await rejectsWith(store.layers.apply(streamOf(tar), { label: name }), "unsafe-archive");
    }
    const link = buildTar([{ name: "l", type: "1", linkname: "/etc/passwd" }]);
    await rejectsWith(store.layers.apply(streamOf(link), { label: "link" }), "unsafe-archive");
    await store.index.transaction(() => {});
    assert.deepEqual(await collect(store.layers.walk()), []);
  },

  "apply refuses hostile layers with the extractor's words, and stages nothing": async (
    store,
  ) => {
    for (const [entries, message] of REFUSALS) {
      const tar = buildTar([{ name: "ok", body: "fine" }, ...entries]);
      await assert.rejects(store.layers.apply(streamOf(tar, 512), { label: "hostile" }), (err) => {
        assert.ok(isServinError(err, "unsafe-archive"), String(err));
        assert.equal(err.message, message);
        return true;
      });
    }
    await store.index.transaction(() => {});
    assert.deepEqual(await collect(store.layers.walk()), []);
  },

  "apply refuses a tar stream longer than maxBytes": async (store) => {
    await rejectsWith(
      store.layers.apply(streamOf(LAYER, 512), { label: "big", maxBytes: 1024 }),
      "limit-exceeded",
    );
  },

  "concurrent transactions run one at a time and lose nothing": async (store) => {
    const events: string[] = [];
    const add = (name: string) =>
      store.index.transaction(async (tx) => {
        events.push(`enter ${name}`);
        const seen = tx.images.length;
        // Yield to the event loop, so that an unserialised store would interleave here.
        await new Promise((resolve) => setTimeout(resolve, 5));
        tx.images.push(record(name, { tags: [`${name}:latest`] }));
        events.push(`exit ${name} after ${seen}`);
      });
    const failing = store.index.transaction(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new Error("one fails");
    });
    const results = await Promise.allSettled([add("a"), failing, add("b"), add("c")]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    const tags = (await store.index.list()).flatMap((img) => img.repo_tags).sort();
    assert.deepEqual(tags, ["a:latest", "b:latest", "c:latest"]);
    for (let i = 0; i < events.length; i += 2) {
      assert.match(events[i]!, /^enter /);
      assert.equal(events[i + 1]?.split(" ")[1], events[i]!.split(" ")[1], events.join(", "));
    }
  },

  "walk lists exactly what is committed": async (store) => {
    const kept = await storeImage(store, "walked");
    const staged = await stage(store, "only staged");
    const other = buildTar([{ name: "other", body: "x" }]);
    const stagedLayer = await store.layers.apply(streamOf(other), { label: "other" });
    const blobs = await collect(store.content.walk());
    assert.deepEqual(blobs, [{ digest: kept.blob.digest, size: 6 }]);
    const layers = await collect(store.layers.walk());
    assert.deepEqual(layers, [{ diffId: kept.layer.diffId, size: 11 }]);
    await staged.discard();
    await stagedLayer.discard();
  },

  "a malformed digest finds nothing, and never a file outside the store": async (store) => {
    await storeImage(store, "bystander");
    for (const bad of ["../index.json", "../../images/index.json", "/etc/passwd", "", "ABC"]) {
      const info = await store.content.info(bad).catch((err) => {
        assert.ok(isServinError(err), String(err));
        return undefined;
      });
      assert.equal(info, undefined, bad);
      await assert.rejects(store.content.read(bad), (err) => isServinError(err));
      const layer = await store.layers.info(bad).catch((err) => {
        assert.ok(isServinError(err), String(err));
        return undefined;
      });
      assert.equal(layer, undefined, bad);
    }
  },

  "records are copies: changing what list or a transaction returned changes nothing": async (
    store,
  ) => {
    let kept: ImageRecord[] = [];
    await store.index.transaction((tx) => {
      tx.images.push(record("copied", { tags: ["copied:1"] }));
      kept = tx.images;
    });
    kept[0]!.repo_tags.push("sneaked:in");
    const listed = await store.index.list();
    listed[0]!.repo_tags.push("sneaked:in");
    assert.deepEqual((await store.index.list())[0]!.repo_tags, ["copied:1"]);
  },

  "a transaction that writes an invalid record fails and changes nothing": async (store) => {
    await store.index.transaction((tx) => void tx.images.push(record("valid")));
    await assert.rejects(store.index.transaction((tx) => {
      tx.images.push({ ...record("bad"), id: "not-a-digest" });
    }));
    assert.deepEqual((await store.index.list()).map((img) => img.id), [sha256Hex("valid")]);
  },
};

const registry = await Registry.create([localStorage(), memoryStorage()]);

for (const backend of ["local", "memory"]) {
  for (const [name, run] of Object.entries(CASES)) {
    Deno.test(`${backend}: ${name}`, async () => {
      const root = await Deno.makeTempDir({ prefix: "servin-conformance-" });
      const store = await registry.get("storage", backend).open({
        root,
        platform: linuxPlatform(),
        limits: DEFAULT_LIMITS,
        warn: () => {},
      });
      try {
        await run(store);
      } finally {
        await store.close();
        await Deno.remove(root, { recursive: true });
      }
    });
  }
}

Deno.test("openServin with the memory backend imports, saves, loads and removes, and writes no root", async () => {
  const root = `${await Deno.makeTempDir({ prefix: "servin-memory-" })}/never-created`;
  const servin = await openServin({ plugins: [memoryStorage()], storage: "memory", root });
  try {
    const tar = buildTar([{ name: "etc/", type: "5" }, { name: "etc/hello", body: "hi" }]);
    const image = await servin.importImage({ path: "rootfs.tar", stream: streamOf(tar) }, "mem:1");
    assert.equal(image.layers[0], sha256Hex(tar));
    assert.equal(image.size, 2);
    const saved: Uint8Array[] = [];
    await servin.saveImages(["mem:1"], new WritableStream({ write: (c) => void saved.push(c) }));
    await rejectsWith(servin.exportImage("mem:1", new WritableStream()), "unsupported");
    await servin.removeImage("mem:1");
    assert.deepEqual(await servin.listImages(), []);
    const [loaded] = await servin.loadImages({
      path: "saved.tar",
      stream: ReadableStream.from(saved),
    });
    assert.equal(loaded?.image.id, image.id);
    await servin.removeImage("mem:1");
    assert.deepEqual(await collect(servin.store.content.walk()), []);
    assert.deepEqual(await collect(servin.store.layers.walk()), []);
  } finally {
    await servin.close();
  }
  await assert.rejects(Deno.lstat(root), Deno.errors.NotFound);
  await Deno.remove(root.slice(0, -"/never-created".length));
});

Deno.test("local: a known digest that covers other bytes than those read is refused as a bug", async () => {
  const root = await Deno.makeTempDir({ prefix: "servin-conformance-" });
  const store = await registry.get("storage", "local").open({
    root,
    platform: linuxPlatform(),
    limits: DEFAULT_LIMITS,
    warn: () => {},
  });
  try {
    const bytes = enc.encode("some bytes");
    const short = Promise.resolve({ digest: sha256Hex(bytes), size: bytes.length - 1 });
    await rejectsWith(store.content.ingest(streamOf(bytes), { knownDigest: short }), "internal");
    const diff = Promise.resolve({ digest: sha256Hex(LAYER), size: LAYER.length + 512 });
    await rejectsWith(
      store.layers.apply(streamOf(LAYER), { label: "x", knownDiffId: diff }),
      "internal",
    );
    // The digest given is what the store keeps: it hashes nothing itself.
    const given = Promise.resolve({ digest: sha256Hex("elsewhere"), size: bytes.length });
    const blob = await store.content.ingest(streamOf(bytes), { knownDigest: given });
    assert.equal(blob.digest, sha256Hex("elsewhere"));
    await blob.discard();
  } finally {
    await store.close();
    await Deno.remove(root, { recursive: true });
  }
});
