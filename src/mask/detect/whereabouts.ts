// Who a person is and where they are (masking.md §3): personal names, postal addresses and
// geographic coordinates. No model and no network: each is recognised by the shape people write
// it in and, where the shape alone is too common, by the cue in front of it ("my name is", "Dear",
// a `first_name` key, "lat"). Names without a cue are not guessed at: a capitalised word is a
// product, a graph or a node name as often as a person, and a mask on those breaks agents.
//
// The patterns use bounded quantifiers only, so each scan is linear in the text.
import { wordsBefore } from "./context.js";
import type { Detector, Finding } from "./types.js";

// Apostrophes and hyphens only between letters ("O'Neil", "Smith-Jones"), so a closing quote is never part of a name.
const NAME_WORD = String.raw`\p{Lu}(?:\p{L}{1,20}|(?=['’]))(?:['’-]\p{L}{1,20}){0,2}`;
const KEYED_NAME_WORD = String.raw`\p{L}{2,20}(?:['’-]\p{L}{1,20}){0,2}`;
const NAME = String.raw`${NAME_WORD}(?: ${NAME_WORD}){0,3}`;

// Cues after which the next capitalised words are a person's name.
const PROSE_CUE = String.raw`(?:\b(?:[Mm]y name is|[Nn]ame is|[Dd]ear|[Ss]incerely,|[Rr]egards,|[Ss]igned by|[Aa]ttn:?|[Aa]ttention:)|\b(?:[Cc]ustomer|[Pp]atient|[Cc]ontact|[Ee]mployee|[Aa]pplicant|[Cc]ardholder|[Bb]eneficiary|[Rr]ecipient|[Ss]ender|[Gg]uest|[Pp]assenger|[Mm]ember)(?: name)?\s?[:=]|\b(?:Name|NAME)\s?[:=]|\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Madam)\.?)\s{1,2}`;
// A key that names the field a name is in (`first_name=`, `"lastName": "`, `surname:`).
const KEY_CUE = String.raw`(?:(?:[Ff]ull|[Ff]irst|[Ll]ast|[Gg]iven|[Ff]amily|[Mm]iddle|[Mm]aiden|[Cc]ustomer|[Pp]atient|[Cc]ontact|[Hh]older|[Ll]egal|[Ss]ender|[Rr]ecipient)[_ -]?[Nn]ame|[Ss]urname|FIRST_NAME|LAST_NAME|FULL_NAME|SURNAME)["']?\s?[:=]\s?["']?`;
// One pattern for both kinds of cue: one pass over the text. A name after a key may be written
// in any case (`"first_name": "jane"`); after words, only capitalised.
const PERSON = new RegExp(`(?:${PROSE_CUE}(${NAME})|${KEY_CUE}(${KEYED_NAME_WORD}(?: ${KEYED_NAME_WORD}){0,3}))(?![\\p{L}\\p{N}])`, "gdu");
const CUE_ONLY = new RegExp(`(?:${PROSE_CUE}|${KEY_CUE})`, "gu");
/** Words that follow a cue without being a name ("Dear Team", "This is Important"). */
const NOT_A_NAME = new Set(["Team", "All", "Everyone", "Sir", "Madam", "Customer", "Customers", "Colleague", "Colleagues", "Friend", "Friends", "Support", "Hiring", "Manager", "User", "Users", "Admin", "There", "Not", "The", "This", "That", "It", "Important", "Urgent", "Great", "Good", "Fine", "Okay", "True", "False", "None", "Null", "Unknown", "Name", "Mr", "Mrs", "Ms", "Dr", "Sales", "Marketing", "Engineering", "Billing", "Service", "Services", "Department", "Desk", "Help", "Office", "Operations", "Security", "Legal", "Finance", "Accounts", "Bot", "Assistant", "Agent", "System"]);
const PERSON_MAX = 90;
/** How far back a stream looks for a cue: the longest cue and a whole name. */
const PERSON_WINDOW = PERSON_MAX + 40;

function personDetector(): Detector {
  const id = "person-name";
  const push = (out: Finding[], start: number, end: number) => out.push({ start, end, entity: "PERSON", score: 0.85, detector: id });
  return {
    id,
    entities: ["PERSON"],
    maxLength: PERSON_MAX,
    find(text, out) {
      PERSON.lastIndex = 0;
      for (let match = PERSON.exec(text); match; match = PERSON.exec(text)) {
        const [start, end] = (match.indices![1] ?? match.indices![2])!;
        const first = text.slice(start, end).split(" ")[0]!;
        if (!NOT_A_NAME.has(first) && !NOT_A_NAME.has(first[0]!.toUpperCase() + first.slice(1).toLowerCase())) push(out, start, end);
        // "Dear Mr. Smith": what a cue is followed by may itself be a cue.
        else PERSON.lastIndex = start;
      }
    },
    openCandidate(text) {
      // A name after a cue that may still grow ("Dear Jane" + " Doe"): held from the name's start.
      const from = Math.max(0, text.length - PERSON_WINDOW);
      const window = text.slice(from);
      CUE_ONLY.lastIndex = 0;
      for (let cue = CUE_ONLY.exec(window); cue; cue = CUE_ONLY.exec(window)) {
        const nameStart = cue.index + cue[0].length;
        if (nameStart < window.length && /^[\p{L}'’-]{0,21}(?: [\p{L}'’-]{0,21}){0,3} ?$/u.test(window.slice(nameStart))) return { start: from + nameStart, strong: true };
      }
      return undefined;
    },
  };
}

// USPS Publication 28, Appendix C1: street suffixes, written out and in their common abbreviations.
// The common ones end an address alone; the rest ("Branch", "Keys", "Gateway", "Point") are words
// of ordinary text too, and end one only with a unit, a town or an address word before it.
const COMMON_SUFFIX = "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Wy|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close";
const STREET_SUFFIX = [
  COMMON_SUFFIX,
  "Alley|Aly|Annex|Arcade|Bayou|Beach|Bend|Bluffs?|Bottom|Branch|Bridge|Brooks?|Burgs?|Bypass|Camp|Canyon|Cape|Causeway|Centers?|Ctr|Circles|Cliffs?|Club|Commons?|Corners?|Course|Courts|Coves?|Creek|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives|Estates?|Expressway|Expy|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Freeway|Fwy|Gardens?|Gateway|Glens?|Greens?|Groves?|Harbors?|Haven|Heights|Hts|Hills?|Hollow|Inlet|Island|Islands|Isle|Junctions?|Keys?|Knolls?|Lakes?|Land|Landing|Light|Lights|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mews|Mill|Mills|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Park|Parks|Parkways|Pass|Passage|Path|Pike|Pines?|Plains?|Plaza|Points?|Ports?|Prairie|Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|River|Roads|Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Spurs?|Squares|Station|Stravenue|Stream|Streets|Summit|Throughway|Trace|Track|Trafficway|Tunnel|Turnpike|Underpass|Unions?|Valleys?|Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Ways|Wells?|Gate",
].join("|");
const DIRECTION = "N|S|E|W|NE|NW|SE|SW|North|South|East|West";
// A capitalised word ("Main", "O'Kon", "Parker-Lindgren"), not an acronym ("API"), or an ordinal.
const STREET_WORD = String.raw`(?:\p{Lu}\p{Ll}[\p{L}'’-]{0,19}|\p{Lu}'\p{Lu}\p{Ll}{1,18}|\d{1,3}(?:st|nd|rd|th))`;
const UNIT = String.raw`(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.? ?#?[A-Za-z0-9-]{1,6}(?![\p{L}\p{N}]))`;
const TOWN = String.raw`, \p{Lu}[\p{L}'’-]{1,20}(?: \p{Lu}[\p{L}'’-]{1,20}){0,2}`;
/** A US state and ZIP code, or a UK postcode. */
const POSTAL_CODE = String.raw`(?:,? [A-Z]{2} \d{5}(?:-\d{4})?| [A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})`;
const PLACE = String.raw`(?:${TOWN}(?:${POSTAL_CODE}|,? [A-Z]{2})?)`;
const HOUSE = String.raw`(?<![\p{L}\p{N}./#-])\d{1,6}[A-Z]?(?:-\d{1,4})? (?:(?:${DIRECTION})\.? )?`;
const STREET_ADDRESS = new RegExp(
  String.raw`${HOUSE}(?:(?:${STREET_WORD} ){1,4}(?:(?:${COMMON_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?${UNIT}?${PLACE}?|(?:${STREET_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?(?:${UNIT}${PLACE}?|${PLACE}))|(?:${STREET_WORD} ){0,3}${STREET_WORD}(?:${UNIT}${PLACE}|${TOWN}${POSTAL_CODE}))(?![\p{L}\p{N}])`,
  "yu",
);
/** Any suffix, or a street and a unit, with nothing after: an address only after an address word ("ship to", "address"). */
const STREET_ADDRESS_AFTER_CUE = new RegExp(String.raw`${HOUSE}(?:(?:${STREET_WORD} ){1,4}(?:${STREET_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?|(?:${STREET_WORD} ){0,3}${STREET_WORD}${UNIT})(?![\p{L}\p{N}])`, "yu");
/** A field named for where something goes (`"to": "`, `ship_to=`), as JSON keys and key=value write it. */
const ADDRESS_KEY_BEFORE = /(?:^|[^\p{L}\p{N}_])(?:to|ship_?to|shipTo|deliver_?to)["']?\s?[:=]\s?["']?$/u;
const ADDRESS_CONTEXT = new Set(["address", "addr", "ship", "shipping", "shipment", "deliver", "delivery", "live", "lives", "living", "located", "moved", "move", "reside", "residence", "home", "office", "street", "mailing", "billing", "destination", "visit"]);
/** A digit, then a space and what a street name may start with (a capital, a digit, a direction). */
const ADDRESS_ANCHOR = /\d[A-Z]?(?:-\d{1,4})? [A-Z\d\u00c0-\u024f]/g;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const ADDRESS_MAX = 240;
/** What may follow a house number while the text could still become an address. */
const ADDRESS_PREFIX = /^\d{1,6}[A-Z]?(?:-\d{0,4})?(?: (?:(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.? ?#?[\p{L}\d-]{0,6}|[\p{Lu}\d#][\p{L}\d.'’#-]*),?){0,16} ?[\p{Lu}\d#]?$/u;

function streetAddressDetector(): Detector {
  const id = "street-address";
  return {
    id,
    entities: ["STREET_ADDRESS"],
    maxLength: ADDRESS_MAX,
    find(text, out) {
      // Looked for only where a house number is followed by a word that could start a street.
      ADDRESS_ANCHOR.lastIndex = 0;
      let after = 0;
      for (let anchor = ADDRESS_ANCHOR.exec(text); anchor; anchor = ADDRESS_ANCHOR.exec(text)) {
        let start = anchor.index;
        while (start > after && isDigit(text.charCodeAt(start - 1))) start--;
        STREET_ADDRESS.lastIndex = start;
        let match = STREET_ADDRESS.exec(text);
        if (!match) {
          STREET_ADDRESS_AFTER_CUE.lastIndex = start;
          match = STREET_ADDRESS_AFTER_CUE.exec(text);
          if (!match || !(wordsBefore(text, start).some((word) => ADDRESS_CONTEXT.has(word)) || ADDRESS_KEY_BEFORE.test(text.slice(Math.max(0, start - 24), start)))) continue;
        }
        after = ADDRESS_ANCHOR.lastIndex = start + match[0].length;
        out.push({ start, end: after, entity: "STREET_ADDRESS", score: 0.85, detector: id });
      }
    },
    openCandidate(text) {
      // Held from the earliest house number near the end after which every word so far could
      // still be part of an address; a bare number alone is released by the idle timer.
      const from = Math.max(0, text.length - ADDRESS_MAX);
      for (let at = from; at < text.length; at++) {
        const c = text.charCodeAt(at);
        if (c < 0x30 || c > 0x39 || (at > 0 && /[\p{L}\p{N}./#-]/u.test(text[at - 1]!))) continue;
        const rest = text.slice(at);
        if (ADDRESS_PREFIX.test(rest)) return { start: at, strong: /\s\p{Lu}/u.test(rest) };
      }
      return undefined;
    },
  };
}

// Coordinates: decimal degrees with hemispheres, degrees-minutes-seconds, a labelled latitude or
// longitude, or a bare decimal pair after a context word. Bare pairs without one are not masked:
// embeddings, scores and prices are decimal pairs too.
const LATITUDE = String.raw`[-+]?(?:[1-8]?\d\.\d{1,8}|90\.0{1,8})`;
const LONGITUDE = String.raw`[-+]?(?:1[0-7]\d\.\d{1,8}|[1-9]?\d\.\d{1,8}|180\.0{1,8})`;
const GEO_HEMISPHERES = new RegExp(String.raw`(?<![\p{L}\p{N}.])${LATITUDE} ?° ?[NS],? ?${LONGITUDE} ?° ?[EW](?![\p{L}\p{N}])`, "gu");
const GEO_DMS = new RegExp(String.raw`(?<![\p{L}\p{N}.])\d{1,3}° ?\d{1,2}['′] ?(?:\d{1,2}(?:\.\d{1,4})?\\?["″] ?)?[NSEW](?![\p{L}\p{N}])`, "gu");
const GEO_LABELLED = new RegExp(String.raw`\b(?:[Ll]at(?:itude)?|[Ll]ng|[Ll]on(?:g|gitude)?|LAT|LNG|LON)["']?\s?[:=]\s?["']?(${LONGITUDE})(?![\p{L}\p{N}.])`, "gdu");
const GEO_PAIR = new RegExp(String.raw`(?<![\p{L}\p{N}.])${LATITUDE.replace("\\d{1,8}", "\\d{3,8}")}(?:, ?| )${LONGITUDE.replaceAll("\\d{1,8}", "\\d{3,8}")}(?![\p{L}\p{N}.])`, "yu");
/** The decimal places of a pair's first number and the start of its second. */
const GEO_PAIR_ANCHOR = /\.\d{3}\d{0,5},? ?[-+]?\d/g;
const GEO_LABEL_HINT = /[Ll]at|[Ll]ng|[Ll]on|LAT|LNG|LON/;
const isDigitOrSign = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b;
const GEO_CONTEXT = new Set(["at", "near", "lat", "latitude", "lon", "lng", "long", "longitude", "coordinate", "coordinates", "coords", "gps", "location", "located", "geo", "geolocation", "position", "pin", "map", "maps", "lat/long", "latlng"]);
const GEO_MAX = 60;
/** What may follow the first digit of a coordinate while the text could still become one. */
const GEO_PREFIX = /^[-+]?(?:\d[\d.°'′"″\\,;/ NSEW+-]{0,58})?$/;

function geoCoordinateDetector(): Detector {
  const id = "geo-coordinate";
  const push = (out: Finding[], start: number, end: number) => out.push({ start, end, entity: "GEO_COORDINATE", score: 0.85, detector: id });
  return {
    id,
    entities: ["GEO_COORDINATE"],
    maxLength: GEO_MAX,
    find(text, out) {
      // Each form is looked for only where its rare part is: a degree sign, a label, a decimal
      // with three places followed by another number.
      if (text.includes("°")) {
        for (const pattern of [GEO_HEMISPHERES, GEO_DMS]) {
          pattern.lastIndex = 0;
          for (let match = pattern.exec(text); match; match = pattern.exec(text)) push(out, match.index, match.index + match[0].length);
        }
      }
      if (GEO_LABEL_HINT.test(text)) {
        GEO_LABELLED.lastIndex = 0;
        for (let match = GEO_LABELLED.exec(text); match; match = GEO_LABELLED.exec(text)) push(out, ...match.indices![1]!);
      }
      GEO_PAIR_ANCHOR.lastIndex = 0;
      let after = 0;
      for (let anchor = GEO_PAIR_ANCHOR.exec(text); anchor; anchor = GEO_PAIR_ANCHOR.exec(text)) {
        let start = anchor.index;
        while (start > after && isDigitOrSign(text.charCodeAt(start - 1))) start--;
        GEO_PAIR.lastIndex = start;
        const match = GEO_PAIR.exec(text);
        if (!match) continue;
        after = GEO_PAIR_ANCHOR.lastIndex = match.index + match[0].length;
        if (text.slice(match.index - 4, match.index) === "geo:" || wordsBefore(text, match.index).some((word) => GEO_CONTEXT.has(word))) push(out, match.index, after);
      }
    },
    openCandidate(text) {
      const from = Math.max(0, text.length - GEO_MAX);
      for (let at = from; at < text.length; at++) {
        const c = text.charCodeAt(at);
        if (c !== 0x2d && c !== 0x2b && (c < 0x30 || c > 0x39)) continue;
        if (at > 0 && /[\p{L}\p{N}.+-]/u.test(text[at - 1]!)) continue;
        const rest = text.slice(at);
        // After a label or a context word ("lat:", "located at") it is held until it settles.
        if (GEO_PREFIX.test(rest) && !/[NSEW]{2}/.test(rest)) return { start: at, strong: /°|\d\.\d{3}/.test(rest) || wordsBefore(text, at).some((word) => GEO_CONTEXT.has(word)) };
      }
      return undefined;
    },
  };
}

export function whereaboutsDetectors(): Detector[] {
  return [personDetector(), streetAddressDetector(), geoCoordinateDetector()];
}
