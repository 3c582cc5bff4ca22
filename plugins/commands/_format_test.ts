import assert from "node:assert/strict";
import { humanDuration, humanSize, table } from "./_format.ts";

Deno.test("sizes are SI with three significant digits, as Docker prints them", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(5_600_000), "5.6MB");
  assert.equal(humanSize(72_800_000), "72.8MB");
  assert.equal(humanSize(5_872_640), "5.87MB");
  assert.equal(humanSize(1_234_567_890), "1.23GB");
  assert.equal(humanSize(999_999), "1MB");
});

Deno.test("durations read like Docker's", () => {
  const s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;
  assert.equal(humanDuration(300), "Less than a second");
  assert.equal(humanDuration(1 * s), "1 second");
  assert.equal(humanDuration(45 * s), "45 seconds");
  assert.equal(humanDuration(90 * s), "About a minute");
  assert.equal(humanDuration(5 * m), "5 minutes");
  assert.equal(humanDuration(62 * m), "About an hour");
  assert.equal(humanDuration(2 * h), "2 hours");
  assert.equal(humanDuration(3 * d), "3 days");
  assert.equal(humanDuration(20 * d), "2 weeks");
  assert.equal(humanDuration(90 * d), "3 months");
  assert.equal(humanDuration(800 * d), "2 years");
});

Deno.test("tables align columns with three spaces", () => {
  assert.equal(table(["A", "BB"], [["xxxx", "y"], ["z", "w"]]), "A      BB\nxxxx   y\nz      w");
});
