// Names, street addresses and coordinates (src/mask/detect/whereabouts.ts). Each detector looks for
// its pattern only near what every match holds (whitespace before a capital or "name" for a cue, a
// house number's space, a decimal point, a degree sign); these cases sit where that search could
// go wrong: other whitespace, text outside ASCII, the longest cues, times beside a coordinate.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { whereaboutsDetectors } from "../src/mask/detect/whereabouts.js";
import type { Finding } from "../src/mask/detect/types.js";

const detectors = whereaboutsDetectors();

function found(text: string, entity: string): string[] {
  const out: Finding[] = [];
  for (const detector of detectors) detector.find(text, out);
  return out.filter((finding) => finding.entity === entity).map((finding) => text.slice(finding.start, finding.end));
}

describe("person names after a cue", () => {
  test("after any whitespace, one or two", () => {
    assert.deepEqual(found("Dear Jane Doe, thanks", "PERSON"), ["Jane Doe"]);
    assert.deepEqual(found("Dear\tJane Doe", "PERSON"), ["Jane Doe"]);
    assert.deepEqual(found("Dear  Jane", "PERSON"), ["Jane"]);
    assert.deepEqual(found("Regards,\nJane Doe", "PERSON"), ["Jane Doe"]);
    assert.deepEqual(found("Dear\u2028Jane Doe", "PERSON"), ["Jane Doe"]);
    assert.deepEqual(found("Dear\u00a0Jane", "PERSON"), ["Jane"]);
  });

  test("in text outside ASCII", () => {
    assert.deepEqual(found("Attn: José Álvarez — café at 9", "PERSON"), ["José Álvarez"]);
    assert.deepEqual(found("naïve text. Sincerely, Zoë Ångström", "PERSON"), ["Zoë Ångström"]);
  });

  test("after key cues, the longest and the upper-case ones", () => {
    assert.deepEqual(found('{"Recipient_Name": "jane doe"}', "PERSON"), ["jane doe"]);
    assert.deepEqual(found("FULL_NAME=JOHN SMITH;", "PERSON"), ["JOHN SMITH"]);
    assert.deepEqual(found("surname: Okafor", "PERSON"), ["Okafor"]);
    assert.deepEqual(found("Beneficiary name : Ada Lovelace", "PERSON"), ["Ada Lovelace"]);
  });

  test("a cue followed by a cue, and cues followed by no name", () => {
    assert.deepEqual(found("Dear Mr. Smith", "PERSON"), ["Smith"]);
    assert.deepEqual(found("Dear Team, the same name is used. Dear Jane", "PERSON"), ["Jane"]);
    assert.deepEqual(found('{"name": "Retrieve", "graph_name": "agent", "same": 1}', "PERSON"), []);
  });
});

describe("street addresses from their house number", () => {
  test("numbers with a letter, a range, or both", () => {
    assert.deepEqual(found("Ship to 221B Baker Street, London NW1 6XE today", "STREET_ADDRESS"), ["221B Baker Street, London NW1 6XE"]);
    assert.deepEqual(found("at 12-14 Elm Road please", "STREET_ADDRESS"), ["12-14 Elm Road"]);
    assert.deepEqual(found("at 12B-14 Elm Road please", "STREET_ADDRESS"), ["12B-14 Elm Road"]);
    // More than four digits after a dash: a reference number, not a house number.
    assert.deepEqual(found("ref 1-23456 Main Street", "STREET_ADDRESS"), []);
  });

  test("numbers that are not house numbers", () => {
    assert.deepEqual(found('{"id":"9f86d081-884c-7d65-9a2f-eaa0c55ad015","items":4,"version":"2.4.0 Beta"}', "STREET_ADDRESS"), []);
    assert.deepEqual(found("Retrying in 30 Seconds", "STREET_ADDRESS"), []);
  });
});

describe("coordinates from their decimal point or degree sign", () => {
  test("a labelled number next to a time", () => {
    assert.deepEqual(found('at 12:50:17.434Z "lat": 52.5200, "lng":13.4050', "GEO_COORDINATE"), ["52.5200", "13.4050"]);
    assert.deepEqual(found("longitude=-122.4194", "GEO_COORDINATE"), ["-122.4194"]);
    assert.deepEqual(found("total: 687.97, at 12:50:17.434", "GEO_COORDINATE"), []);
  });

  test("degrees with hemispheres, and degrees, minutes and seconds", () => {
    assert.deepEqual(found("from 52.5200° N, 13.4050° E to 48.8566° N, 2.3522° E", "GEO_COORDINATE"), ["52.5200° N, 13.4050° E", "48.8566° N, 2.3522° E"]);
    // The longest latitude before its degree sign: sign, two digits, eight decimals and a space.
    assert.deepEqual(found("pin -89.12345678 ° S, 120.5 ° W", "GEO_COORDINATE"), ["-89.12345678 ° S, 120.5 ° W"]);
    assert.deepEqual(found(`summit 45°49'57"N 6°51'54"E`, "GEO_COORDINATE"), [`45°49'57"N`, `6°51'54"E`]);
    assert.deepEqual(found("it was 21° outside", "GEO_COORDINATE"), []);
  });

  test("a decimal pair after a context word, and not without one", () => {
    assert.deepEqual(found("located at 40.7128, -74.0060 now", "GEO_COORDINATE"), ["40.7128, -74.0060"]);
    assert.deepEqual(found("scores 40.7128, -74.0060 now", "GEO_COORDINATE"), []);
  });
});
