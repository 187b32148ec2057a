// Names, street addresses and coordinates (src/mask/detect/whereabouts.ts). Each detector looks for
// its pattern only near what every match holds (whitespace before a capital or "name" for a cue, a
// house number's space, a decimal point, a degree sign); these cases sit where that search could
// go wrong: other whitespace, text outside ASCII, the longest cues, times beside a coordinate.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { whereaboutsDetectors } from "../../src/mask/detect/whereabouts.js";
import { defaultMasker, MaskingTally, TextStreamMasker } from "../../src/mask/index.js";
import type { Finding } from "../../src/mask/detect/types.js";

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
    // JSON may put any whitespace around its colon.
    assert.deepEqual(found('{"first_name"  :\n     "jane"}', "PERSON"), ["jane"]);
  });

  test("a cue followed by a cue, and cues followed by no name", () => {
    assert.deepEqual(found("Dear Mr. Smith", "PERSON"), ["Smith"]);
    // Two cues end at the same place ("My name is", "name is"); the first lies in the name before.
    assert.deepEqual(found("Dear John My name is Jane Doe", "PERSON"), ["John My", "Jane Doe"]);
    assert.deepEqual(found("Dear Team, the same name is used. Dear Jane", "PERSON"), ["Jane"]);
    assert.deepEqual(found('{"name": "Retrieve", "graph_name": "agent", "same": 1}', "PERSON"), []);
    // "Name" is a given name too (faker has it); a cue only with its colon.
    assert.deepEqual(found("Patient name: Name Murray; seen by Dr. Lee", "PERSON"), ["Name Murray", "Lee"]);
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

  test("streets named by one word, and suffixes people use outside USPS's list, after an address word", () => {
    assert.deepEqual(found("I moved to 8938 Broadway last week", "STREET_ADDRESS"), ["8938 Broadway"]);
    assert.deepEqual(found('address changed to "4247 Jaeden Via"', "STREET_ADDRESS"), ["4247 Jaeden Via"]);
    assert.deepEqual(found("ship to 7 Mill Croft", "STREET_ADDRESS"), ["7 Mill Croft"]);
    assert.deepEqual(found("we played 3 Broadway shows", "STREET_ADDRESS"), []);
  });

  test("a long hyphenated town with its postcode is taken whole, and so is an O'Connell-Larkin street", () => {
    assert.deepEqual(found("My new address is 195 O'Connell-Larkin Crossing, Spencer", "STREET_ADDRESS"), ["195 O'Connell-Larkin Crossing, Spencer"]);
    assert.deepEqual(found("moved to 12 Elm Road, Kshlerinborough-Pourosstad NW20 2ZX today", "STREET_ADDRESS"), ["12 Elm Road, Kshlerinborough-Pourosstad NW20 2ZX"]);
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
    assert.deepEqual(found('{"lat"  :  52.52, "lng":\n        13.40}', "GEO_COORDINATE"), ["52.52", "13.40"]);
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

describe("continental European addresses, with their postal code and town", () => {
  test("German, Austrian, Swiss and Dutch: street, number", () => {
    assert.deepEqual(found("Bitte an Hauptstraße 5, 10115 Berlin schicken", "STREET_ADDRESS"), ["Hauptstraße 5, 10115 Berlin"]);
    assert.deepEqual(found("Berliner Straße 12a, D-10713 Berlin-Wilmersdorf", "STREET_ADDRESS"), ["Berliner Straße 12a, D-10713 Berlin-Wilmersdorf"]);
    assert.deepEqual(found("Karl-Marx-Allee 3, 10178 Berlin", "STREET_ADDRESS"), ["Karl-Marx-Allee 3, 10178 Berlin"]);
    assert.deepEqual(found("Am Ring 5, 1010 Wien", "STREET_ADDRESS"), ["Am Ring 5, 1010 Wien"]);
    assert.deepEqual(found("Keizersgracht 123, 1015 CJ Amsterdam", "STREET_ADDRESS"), ["Keizersgracht 123, 1015 CJ Amsterdam"]);
  });

  test("French: number, street type, name", () => {
    assert.deepEqual(found("Envoyez au 12 rue de la Paix, 75002 Paris.", "STREET_ADDRESS"), ["12 rue de la Paix, 75002 Paris"]);
    assert.deepEqual(found("3 bis, avenue Foch, 75116 Paris", "STREET_ADDRESS"), ["3 bis, avenue Foch, 75116 Paris"]);
    assert.deepEqual(found("au 37 quai d'Orsay, 75007 Paris", "STREET_ADDRESS"), ["37 quai d'Orsay, 75007 Paris"]);
  });

  test("Italian, Spanish and Portuguese: street type, name, number", () => {
    assert.deepEqual(found("Via Roma 12, 00184 Roma RM", "STREET_ADDRESS"), ["Via Roma 12, 00184 Roma RM"]);
    assert.deepEqual(found("Calle de Alcalá, 42, 28014 Madrid", "STREET_ADDRESS"), ["Calle de Alcalá, 42, 28014 Madrid"]);
    assert.deepEqual(found("Rua Augusta 100, 1100 Lisboa", "STREET_ADDRESS"), ["Rua Augusta 100, 1100 Lisboa"]);
  });

  test("not without a postal code and a town, and not for numbered things", () => {
    assert.deepEqual(found("Hauptstraße 5 ist schön", "STREET_ADDRESS"), []);
    // A street word alone is capitalised: a lower-case one is ordinary text.
    assert.deepEqual(found("Bitte an Berliner str. 5, 10115 Berlin", "STREET_ADDRESS"), []);
    assert.deepEqual(found("Version 5, 10115 files; Step 2, 10 Items; Via email 3, 2024 Report", "STREET_ADDRESS"), []);
  });
});

describe("streaming contract", () => {
  const TEXTS = [
    "Bitte an Hauptstraße 5, 10115 Berlin schicken. Berliner Straße 12a, D-10713 Berlin-Wilmersdorf",
    "Envoyez au 12 rue de la Paix, 75002 Paris. Ou 3 bis, avenue Foch, 75116 Paris, merci; 12 items here",
    "Via Roma 12, 00184 Roma RM e Calle de Alcalá, 42, 28014 Madrid; Keizersgracht 123, 1015 CJ Amsterdam",
    "Ship to 221B Baker Street, London NW1 6XE or 123 Main St, St. Louis, MO 63101 and 430 The Oaks",
    "Dear Mr. Smith, regards, Jane Doe. first_name=Ada; Attn: José Álvarez",
    'at 12:50:17.434Z "lat": 52.5200, "lng":13.4050 near 40.7128, -74.0060 and 52.5200° N, 13.4050° E',
    // What a review found: a second cue inside the first name, lower-case street words, a Dutch
    // postcode written without its space, a long town, a street opening with an astral capital.
    "Hi Mr Smith My name is Jane Doe. Bitte an Berliner str. 5, 10115 Berlin; Ich wohne Kölner allee 9, 50667 Köln.",
    "Keizersgracht 123, 1015CJ Amsterdam Zuidoost; Hauptstraße 5, 10115 Frankfurt-Oderlandgemeindebezirk am Mainzer-Hochufer-Nordwestviertel now",
    "𐐀aastraße 5, 10115 Berlin and Dear\u2028Jane Doe",
  ];

  test("at every split, findings before the open candidate are final and end before it", () => {
    for (const text of TEXTS) {
      for (const detector of detectors) {
        const all = (input: string) => {
          const out: Finding[] = [];
          detector.find(input, out);
          return out.map((finding) => ({ ...finding }));
        };
        const whole = all(text);
        for (let split = 0; split <= text.length; split++) {
          const prefix = text.slice(0, split);
          const settled = detector.openCandidate(prefix)?.start ?? split;
          const where = `${detector.id} at ${split} of ${JSON.stringify(text)} (open at ${settled})`;
          assert.ok(settled <= split && settled >= Math.max(0, split - 2 * detector.maxLength - 8), `hold-back out of bounds: ${where}`);
          const key = (finding: Finding) => `${finding.start}-${finding.end} ${finding.entity}`;
          assert.deepEqual(all(prefix).filter((finding) => finding.start < settled).map(key), whole.filter((finding) => finding.start < settled).map(key), where);
          for (const finding of whole) if (finding.start < settled) assert.ok(finding.end <= settled, `finding crosses the open candidate: ${where}`);
        }
      }
    }
  });

  test("a stream split anywhere sends what the whole text masks to, and no part of an address", () => {
    const masker = defaultMasker();
    for (const text of TEXTS.slice(0, 3)) {
      const whole = masker.maskText(text).text;
      for (let split = 0; split <= text.length; split++) {
        const stream = new TextStreamMasker(masker, new MaskingTally());
        const sent = stream.push(text.slice(0, split)) + stream.push(text.slice(split)) + stream.end();
        assert.equal(sent, whole, `split at ${split}`);
      }
      const byCharacter = new TextStreamMasker(masker, new MaskingTally());
      assert.equal([...text].map((character) => byCharacter.push(character)).join("") + byCharacter.end(), whole, "one character at a time");
      for (const part of ["Hauptstraße", "10115", "rue de la Paix", "75002", "Via Roma", "00184", "Alcalá", "1015 CJ"]) assert.ok(!whole.includes(part), `${part} survives in ${whole}`);
    }
  });
});
