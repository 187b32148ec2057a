// The scanner's memory of short clean texts (src/mask/detect/scanner.ts): a repeated key, action
// or path is scanned once, while a text with a finding, a long text or a text never seen is
// scanned every time, so the memory can only save work, never change an answer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Scanner } from "../../src/mask/detect/scanner.js";
import type { Detector, Finding } from "../../src/mask/detect/types.js";
import { defaultMasker } from "../../src/mask/index.js";

/** Finds "secret" and counts the texts it was given. */
function countingDetector(): Detector & { calls: string[] } {
  const calls: string[] = [];
  return {
    id: "counting",
    entities: ["WORD"],
    maxLength: 6,
    calls,
    find(text: string, out: Finding[]) {
      calls.push(text);
      for (const match of text.matchAll(/secret/g)) out.push({ start: match.index, end: match.index + 6, entity: "WORD", score: 1, detector: "counting" });
    },
    openCandidate: () => undefined,
  };
}

test("a short clean text is scanned once; a text with a finding is scanned every time", () => {
  const detector = countingDetector();
  const scanner = new Scanner([detector]);
  for (let i = 0; i < 3; i++) assert.deepEqual(scanner.scan("threads:search"), []);
  assert.equal(detector.calls.filter((text) => text === "threads:search").length, 1);
  for (let i = 0; i < 3; i++) assert.equal(scanner.scan("a secret").length, 1);
  assert.equal(detector.calls.filter((text) => text === "a secret").length, 3);
});

test("long texts are not remembered, and the memory stays bounded", () => {
  const detector = countingDetector();
  const scanner = new Scanner([detector]);
  const long = "x".repeat(129);
  scanner.scan(long);
  scanner.scan(long);
  assert.equal(detector.calls.filter((text) => text === long).length, 2);
  // More distinct clean texts than the memory holds: the first is forgotten and scanned again.
  for (let i = 0; i < 5000; i++) scanner.scan(`id-${i}`);
  scanner.scan("id-0");
  assert.equal(detector.calls.filter((text) => text === "id-0").length, 2);
});

test("the built-in masker gives the same answer for a text seen before", () => {
  const masker = defaultMasker();
  for (const text of ["idle", "jane@example.com", "call +44 20 7946 0958", "threads:search"]) {
    const first = masker.maskText(text).text;
    assert.equal(masker.maskText(text).text, first, text);
  }
  assert.equal(masker.maskText("jane@example.com").text.includes("jane@example.com"), false);
});
