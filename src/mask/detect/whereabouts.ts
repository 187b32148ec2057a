// Who a person is and where they are (masking.md §3): personal names, postal addresses and
// geographic coordinates. No model and no network: each is recognised by the shape people write
// it in and, where the shape alone is too common, by the cue in front of it ("my name is", "Dear",
// a `first_name` key, "lat"). Names without a cue are not guessed at: a capitalised word is a
// product, a graph or a node name as often as a person, and a mask on those breaks agents.
//
// The patterns use bounded quantifiers only, so each scan is linear in the text.
import { Buffer } from "node:buffer";
import { wordsBefore } from "./context.js";
import { isDigit, isLetter, isLetterOrDigitAt, isUpper, isWordChar } from "./lexer.js";
import type { Detector, Finding } from "./types.js";

// Apostrophes and hyphens only between letters ("O'Neil", "Smith-Jones"), so a closing quote is never part of a name.
const NAME_WORD = String.raw`\p{Lu}(?:\p{L}{1,20}|(?=['’]))(?:['’-]\p{L}{1,20}){0,2}`;
const KEYED_NAME_WORD = String.raw`\p{L}(?:\p{L}{1,20}|(?=['’]))(?:['’-]\p{L}{1,20}){0,2}`;
const NAME = String.raw`${NAME_WORD}(?: ${NAME_WORD}){0,3}`;

// Cues after which the next capitalised words are a person's name.
const PROSE_CUE = String.raw`(?:\b(?:[Mm]y name is|[Nn]ame is|[Dd]ear|[Ss]incerely,|[Rr]egards,|[Ss]igned by|[Aa]ttn:?|[Aa]ttention:)|\b(?:[Cc]ustomer|[Pp]atient|[Cc]ontact|[Ee]mployee|[Aa]pplicant|[Cc]ardholder|[Bb]eneficiary|[Rr]ecipient|[Ss]ender|[Gg]uest|[Pp]assenger|[Mm]ember)(?: name)?\s?[:=]|\b(?:Name|NAME)\s?[:=]|\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Madam)\.?)\s{1,2}`;
// A key that names the field a name is in (`first_name=`, `"lastName": "`, `surname:`).
const KEY_CUE = String.raw`(?:(?:[Ff]ull|[Ff]irst|[Ll]ast|[Gg]iven|[Ff]amily|[Mm]iddle|[Mm]aiden|[Cc]ustomer|[Pp]atient|[Cc]ontact|[Hh]older|[Ll]egal|[Ss]ender|[Rr]ecipient)[_ -]?[Nn]ame|[Ss]urname|FIRST_NAME|LAST_NAME|FULL_NAME|SURNAME)["']?\s{0,4}[:=]\s{0,16}["']?`;
// One pattern for both kinds of cue. A name after a key may be written in any case
// (`"first_name": "jane"`); after words, only capitalised.
const PERSON_PATTERN = `(?:${PROSE_CUE}(${NAME})|${KEY_CUE}(${KEYED_NAME_WORD}(?: ${KEYED_NAME_WORD}){0,3}))(?![\\p{L}\\p{N}])`;
/** The name pattern tried at one place: where a cue can begin. */
const PERSON_AT = new RegExp(PERSON_PATTERN, "ydu");
const CUE_ONLY = new RegExp(`(?:${PROSE_CUE}|${KEY_CUE})`, "gu");
/** Words that follow a cue without being a name ("Dear Team", "This is Important"). */
const NOT_A_NAME = new Set(["Team", "All", "Everyone", "Sir", "Madam", "Customer", "Customers", "Colleague", "Colleagues", "Friend", "Friends", "Support", "Hiring", "Manager", "User", "Users", "Admin", "There", "Not", "The", "This", "That", "It", "Important", "Urgent", "Great", "Good", "Fine", "Okay", "True", "False", "None", "Null", "Unknown", "Mr", "Mrs", "Ms", "Dr", "Sales", "Marketing", "Engineering", "Billing", "Service", "Services", "Department", "Desk", "Help", "Office", "Operations", "Security", "Legal", "Finance", "Accounts", "Bot", "Assistant", "Agent", "System"]);
const PERSON_MAX = 90;
/** How far back a stream looks for a cue: the longest cue and a whole name. */
const PERSON_WINDOW = PERSON_MAX + 40;

// Where a cue can begin, found from what every cue has, so the name pattern is not tried at every
// character of a long document (a class-led pattern reads every character):
// - a prose cue ends just before the whitespace in front of a capital: a prose cue (its leading
//   \b included, so the slice reaches one character further back than the longest cue) that ends
//   there, at most one more whitespace between;
// - a key cue holds "ame" or "AME" (`first_name`, `Surname`, `LAST_NAME`): the part of it before.
const PROSE_CUE_BEFORE = new RegExp(`${PROSE_CUE.slice(0, PROSE_CUE.lastIndexOf(String.raw`\s{1,2}`))}\\s?$`, "yu");
const PROSE_CUE_REACH = 24;
const KEY_CUE_HEAD_BEFORE = /(?:(?:[Ff]ull|[Ff]irst|[Ll]ast|[Gg]iven|[Ff]amily|[Mm]iddle|[Mm]aiden|[Cc]ustomer|[Pp]atient|[Cc]ontact|[Hh]older|[Ll]egal|[Ss]ender|[Rr]ecipient)[_ -]?[Nn]|[Ss]urn|FIRST_N|LAST_N|FULL_N|SURN)$/y;
const KEY_CUE_REACH = 12;
/** The last character of every prose cue ("is", "Dear", "Regards,", "by", "Attn", "Name:", "Mr.", "Mx", "Prof", "Madam"). */
const PROSE_CUE_LAST = new Set([..."srynx:=,.fm"].map((c) => c.charCodeAt(0)));
/** What may start a capitalised name: A-Z, or anything from U+00C0 (every other capital letter is there). */
const SPACE_BEFORE_CAPITAL = /\s(?=[A-Z\u00c0-\uffff])/g;
const ASCII_WHITESPACE = [" ", "\n", "\t", "\r", "\v", "\f"];

/** Every whitespace followed by a capital letter (or, outside ASCII, by what may be one). ASCII
 * text has six whitespace characters, each found with indexOf; other text is read by a pattern. */
function spacesBeforeCapitals(text: string): number[] {
  const found: number[] = [];
  if (Buffer.byteLength(text) === text.length) {
    for (const space of ASCII_WHITESPACE) {
      for (let at = text.indexOf(space); at !== -1; at = text.indexOf(space, at + 1)) {
        const next = text.charCodeAt(at + 1);
        if (next >= 0x41 && next <= 0x5a) found.push(at);
      }
    }
    return found;
  }
  SPACE_BEFORE_CAPITAL.lastIndex = 0;
  for (let match = SPACE_BEFORE_CAPITAL.exec(text); match; match = SPACE_BEFORE_CAPITAL.exec(text)) found.push(match.index);
  return found;
}

/** Every place a cue may begin, in order. */
function cueStarts(text: string): number[] {
  const starts: number[] = [];
  for (const space of spacesBeforeCapitals(text)) {
    // The cue ends just before this whitespace or before one more.
    if (!PROSE_CUE_LAST.has(text.charCodeAt(space - 1)) && !PROSE_CUE_LAST.has(text.charCodeAt(space - 2))) continue;
    const from = Math.max(0, space - PROSE_CUE_REACH);
    // Every start, not only the leftmost: "My name is" and "name is" both end here, and the
    // first may lie inside a name found just before ("Dear John My name is Jane").
    startsEndingAt(text.slice(from, space), PROSE_CUE_BEFORE, from > 0 ? 1 : 0, from, starts, true);
  }
  // Every key cue has "name" or "NAME": found from "me" and "ME", whose first letter is rarer
  // than the "a" that hex ids are full of.
  for (const [tail, a] of [["me", 0x61], ["ME", 0x41]] as const) {
    for (let m = text.indexOf(tail); m !== -1; m = text.indexOf(tail, m + 1)) {
      const at = m - 1; // where "ame" begins
      if (text.charCodeAt(at) !== a) continue;
      const n = text.charCodeAt(at - 1);
      if (n !== 0x4e && n !== 0x6e) continue;
      const from = Math.max(0, at - KEY_CUE_REACH);
      startsEndingAt(text.slice(from, at), KEY_CUE_HEAD_BEFORE, 0, from, starts, false);
    }
  }
  return starts.sort((a, b) => a - b);
}

/** Adds `offset` + every index from `first` on where the sticky, end-anchored `pattern` matches the
 * rest of `slice`; every cue begins with an ASCII letter, and a prose cue at a word boundary (\b
 * is ASCII in JavaScript), so only those places are tried. (Index 0 of a slice cut from inside a
 * text is skipped for prose cues: the character before it is not in the slice.) */
function startsEndingAt(slice: string, pattern: RegExp, first: number, offset: number, into: number[], wordStart: boolean): void {
  for (let at = first; at < slice.length; at++) {
    if (!isLetter(slice.charCodeAt(at)) || (wordStart && at > 0 && isWordChar(slice.charCodeAt(at - 1)))) continue;
    pattern.lastIndex = at;
    if (pattern.test(slice)) into.push(offset + at);
  }
}

function personDetector(): Detector {
  const id = "person-name";
  const push = (out: Finding[], start: number, end: number) => out.push({ start, end, entity: "PERSON", score: 0.85, detector: id });
  return {
    id,
    entities: ["PERSON"],
    maxLength: PERSON_MAX,
    find(text, out) {
      // As one scan from left to right would: a match's text is not looked at again.
      let after = 0;
      for (const cue of cueStarts(text)) {
        if (cue < after) continue;
        PERSON_AT.lastIndex = cue;
        const match = PERSON_AT.exec(text);
        if (!match) continue;
        const [start, end] = (match.indices![1] ?? match.indices![2])!;
        const first = text.slice(start, end).split(" ")[0]!;
        if (!NOT_A_NAME.has(first) && !NOT_A_NAME.has(first[0]!.toUpperCase() + first.slice(1).toLowerCase())) {
          push(out, start, end);
          after = end;
        }
        // "Dear Mr. Smith": what a cue is followed by may itself be a cue.
        else after = start;
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
  // Abbreviations and British and other names faker and people use as a street's last word.
  "Via|Dell|Rise|Fairway|Grange|Glebe|Laurels|Croft|Ridgeway|Beeches|Ridings|Limes|Sidings|Copse|Hawthorns|Coppice|Chase|Poplars|Oaks|Maltings|Paddocks?|End|Spinney|Pleasant|Willows|Broadway|Woodlands",
].join("|");
const DIRECTION = "N|S|E|W|NE|NW|SE|SW|North|South|East|West";
// A capitalised word ("Main", "O'Kon", "O'Connell-Larkin", "Parker-Lindgren"), not an acronym
// ("API"), or an ordinal.
const STREET_WORD = String.raw`(?:\p{Lu}\p{Ll}[\p{L}'’-]{0,19}|\p{Lu}['’]\p{Lu}\p{Ll}[\p{L}'’-]{0,18}|\d{1,3}(?:st|nd|rd|th))`;
const UNIT = String.raw`(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.? ?#?[A-Za-z0-9-]{1,6}(?![\p{L}\p{N}]))`;
/** A word of a town's name; "St." and its like first, or "St" alone would end the name. */
const TOWN_WORD = String.raw`(?:(?:St|Ste|Mt|Ft)\.|\p{Lu}[\p{L}'’-]{1,30})`;
const TOWN = String.raw`, ${TOWN_WORD}(?: ${TOWN_WORD}){0,2}`;
/** A US state and ZIP code, or a UK postcode. */
const POSTAL_CODE = String.raw`(?:,? [A-Z]{2} \d{5}(?:-\d{4})?| [A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})`;
const PLACE = String.raw`(?:${TOWN}(?:${POSTAL_CODE}|,? [A-Z]{2})?)`;
const HOUSE = String.raw`(?<![\p{L}\p{N}./#-])\d{1,6}[A-Z]?(?:-\d{1,4})? (?:(?:${DIRECTION})\.? )?`;
const STREET_ADDRESS = new RegExp(
  String.raw`${HOUSE}(?:(?:${STREET_WORD} ){1,4}(?:(?:${COMMON_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?${UNIT}?${PLACE}?|(?:${STREET_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?(?:${UNIT}${PLACE}?|${PLACE}))|(?:${STREET_WORD} ){0,3}${STREET_WORD}(?:${UNIT}${PLACE}|${TOWN}${POSTAL_CODE}))(?![\p{L}\p{N}])`,
  "yu",
);
/** Streets named by one word, with no suffix (`350 Broadway`, `12 Riverside`). */
const ONE_WORD_STREET = "Broadway|Kingsway|Parkside|Woodside|Brookside|Waterside|Westgate|Hillside|Oaklands|Riverside|Greenway|Woodlands|Bowery";
/** Any suffix, a street and a unit, a British "The Oaks" or a one-word street, with nothing
 * after: an address only after an address word ("ship to", "address"). */
const STREET_ADDRESS_AFTER_CUE = new RegExp(String.raw`${HOUSE}(?:(?:${STREET_WORD} ){1,4}(?:${STREET_SUFFIX})\.?(?: (?:${DIRECTION})(?![\p{L}]))?|(?:${STREET_WORD} ){0,3}${STREET_WORD}${UNIT}|The ${STREET_WORD}|${ONE_WORD_STREET})(?![\p{L}\p{N}])`, "yu");
/** A field named for where something goes (`"to": "`, `ship_to=`), as JSON keys and key=value write it. */
const ADDRESS_KEY_BEFORE = /(?:^|[^\p{L}\p{N}_])(?:to|ship_?to|shipTo|deliver_?to)["']?\s?[:=]\s?["']?$/u;
const ADDRESS_CONTEXT = new Set(["address", "addr", "ship", "shipping", "shipment", "deliver", "delivery", "live", "lives", "living", "located", "moved", "move", "reside", "residence", "home", "office", "street", "mailing", "billing", "destination", "visit"]);
const mayStartStreet = (c: number) => isDigit(c) || isUpper(c) || (c >= 0xc0 && c <= 0x24f);
const ADDRESS_MAX = 240;
/** What may follow a house number while the text could still become an address. */
const ADDRESS_PREFIX = /^\d{1,6}[A-Z]?(?:-\d{0,4})?(?: (?:(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.? ?#?[\p{L}\d-]{0,6}|[\p{Lu}\d#][\p{L}\d.'’#-]*),?){0,16} ?[\p{Lu}\d#]?$/u;

/** Where the house number that ends at this space begins (`12 `, `12B `, `12-14 `, `12B-14 `),
 * its whole digit run included and not before `from`; -1 if none ends here. */
function houseNumberStart(text: string, space: number, from: number): number {
  const lettered = isUpper(text.charCodeAt(space - 1));
  const last = lettered ? space - 2 : space - 1;
  if (last < from || !isDigit(text.charCodeAt(last))) return -1;
  let run = last;
  while (run > from && isDigit(text.charCodeAt(run - 1))) run--;
  // After a dash, one to four digits and no letter: the number before the dash begins it.
  if (!lettered && last - run < 4 && text.charCodeAt(run - 1) === 0x2d) {
    let before = isUpper(text.charCodeAt(run - 2)) ? run - 3 : run - 2;
    if (before >= from && isDigit(text.charCodeAt(before))) {
      while (before > from && isDigit(text.charCodeAt(before - 1))) before--;
      return before;
    }
  }
  return run;
}

function streetAddressDetector(): Detector {
  const id = "street-address";
  return {
    id,
    entities: ["STREET_ADDRESS"],
    maxLength: ADDRESS_MAX,
    find(text, out) {
      // Looked for only at a space after a house number and before what could start a street (a
      // capital, a digit, a Latin capital with accents): spaces are found with indexOf, where a
      // pattern would be tried at every digit of a document full of UUIDs.
      let after = 0;
      for (let space = text.indexOf(" ", 1); space !== -1; space = text.indexOf(" ", space + 1)) {
        if (space < after || !mayStartStreet(text.charCodeAt(space + 1))) continue;
        const start = houseNumberStart(text, space, after);
        if (start < 0) continue;
        STREET_ADDRESS.lastIndex = start;
        let match = STREET_ADDRESS.exec(text);
        if (!match) {
          STREET_ADDRESS_AFTER_CUE.lastIndex = start;
          match = STREET_ADDRESS_AFTER_CUE.exec(text);
          if (!match || !(wordsBefore(text, start).some((word) => ADDRESS_CONTEXT.has(word)) || ADDRESS_KEY_BEFORE.test(text.slice(Math.max(0, start - 24), start)))) continue;
        }
        after = start + match[0].length;
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

// Continental European layouts, each taken only with its postal code and town, which is what makes
// "Hauptstraße 5" or "Via Roma 12" an address rather than a word and a number:
// - German, Austrian, Swiss and Dutch: street (a word ending in a street word, or two words), number
//   (`Hauptstraße 5`, `Berliner Straße 12a`, `Karl-Marx-Allee 3`, `Keizersgracht 123`);
// - French: number, street type, name (`12 rue de la Paix`, `3 bis, avenue Foch`);
// - Italian, Spanish and Portuguese: street type, name, number (`Via Roma 12`, `Calle de Alcalá, 42`);
// then `, ` and the postal code (`10115`, `1010`, `D-10115`, `1012 AB`) and the town.
const EU_STREET_WORDS = ["stra(?:ß|ss)e", "str\\.", "gasse", "allee", "platz", "weg", "ring", "damm", "ufer", "steig", "chaussee", "straat", "laan", "plein", "gracht", "kade", "singel", "dijk"];
/** A street word, capitalised where it stands alone (`Straße`, `Am Ring`) and either way at the end
 * of a compound (`Hauptstraße`, `Karl-Marx-Allee`): every street then begins with a capital,
 * which is where a stream looks for one. */
const EU_STREET_WORD = (() => {
  const capitalised = EU_STREET_WORDS.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("|");
  return String.raw`\p{Lu}[\p{L}-]{0,30}?(?:${EU_STREET_WORDS.join("|")}|${capitalised})|${capitalised}`;
})();
const EU_NAME_WORD = String.raw`\p{Lu}[\p{L}'’-]{1,24}`;
const EU_NUMBER = String.raw`\d{1,4}[a-zA-Z]?(?:[-/]\d{1,4}[a-zA-Z]?)?`;
/** The word before a street word written apart: `Berliner Straße`, `Am Ring`. */
const DE_FIRST_WORD = String.raw`(?:(?:\p{Lu}\p{L}{1,20}er|Am|Im) )`;
const DE_NL_STREET = String.raw`${DE_FIRST_WORD}?(?:${EU_STREET_WORD}) ${EU_NUMBER}`;
const FR_TYPE = "rue|avenue|av\\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours|square|Rue|Avenue|Boulevard|Place|Chemin|Allée|Impasse|Quai|Route|Cours";
const FR_PARTICLE = String.raw`(?:(?:de la|du|des|de|la|le|les|aux|au) |(?:de l|d|l)['’])`;
const FR_STREET = String.raw`\d{1,4}(?: ?(?:bis|ter))?,? (?:${FR_TYPE}) ${FR_PARTICLE}?${EU_NAME_WORD}(?: ${FR_PARTICLE}?${EU_NAME_WORD}){0,2}`;
const SOUTH_TYPE = "Via|Viale|Piazza|Piazzale|Corso|Largo|Vicolo|Calle|Avenida|Plaza|Paseo|Carrer|Camino|Ronda|Rua|Travessa|Praça|Avinguda";
const SOUTH_PARTICLE = String.raw`(?:(?:de la|de las|de los|del|de|della|delle|dei|degli|di|da|do|dos|das) )`;
const SOUTH_STREET = String.raw`(?:${SOUTH_TYPE}) ${SOUTH_PARTICLE}?${EU_NAME_WORD}(?: ${SOUTH_PARTICLE}?${EU_NAME_WORD}){0,2},? (?:n\.? ?|nº ?)?${EU_NUMBER}`;
/** The street part, ending at the comma before the postal code. */
const EU_STREET_BEFORE = new RegExp(String.raw`(?<![\p{L}\p{N}])(?:${DE_NL_STREET}|${FR_STREET}|${SOUTH_STREET})$`, "u");
/** The longest street part, and one character for the look-behind. */
const EU_STREET_REACH = 150;
const EU_POSTAL_TOWN = new RegExp(String.raw`, (?:(?:[A-Z]{1,2}-)?\d{4,5}|\d{4} ?[A-Z]{2}) ${EU_NAME_WORD}(?:[ -](?:(?:am|an|der|im|bei|sur|sous|en|de|del|di|la|le)[ -])?${EU_NAME_WORD}){0,2}(?![\p{L}\p{N}])`, "yu");
const EU_ADDRESS_MAX = 240;

// Streaming: what may still grow into one of these layouts, held from where it begins.
/** The capitalised word being written (a street word may still come: `Hauptstr` + `aße`), or a
 * first word such as `Berliner ` before it. */
const EU_OPEN_WORDS = new RegExp(String.raw`(?:${DE_FIRST_WORD}(?:\p{Lu}[\p{L}'’-]{0,40})?|\p{Lu}[\p{L}'’-]{0,40})$`, "yu");
/** The rest of an address after its street part: `, `, the postal code and the town, any of them unfinished. */
const EU_OPEN_REST = String.raw`(?:,(?: (?:[A-Z]{1,2}-?)?(?:\d{1,5}(?: ?[A-Z]{0,2})?(?: (?:\p{Lu}[\p{L}'’ -]{0,90})?)?)?)?)?$`;
const EU_OPEN_DE_NL = new RegExp(String.raw`${DE_FIRST_WORD}?(?:${EU_STREET_WORD})(?: (?:${EU_NUMBER.replace("{1,4}[a-zA-Z]?)?", "{0,4}[a-zA-Z]?)?")}${EU_OPEN_REST})?)?$`, "yu");
/** French and southern layouts: a street type (or the start of one), then words, number and the rest. */
const FR_TYPE_STARTS = [...new Set(FR_TYPE.replaceAll("\\", "").split("|").flatMap((type) => [...type].map((_, i) => type.slice(0, i + 1))))];
const EU_OPEN_FR = new RegExp(String.raw`\d{1,4}(?: ?(?:b|bi|bis|t|te|ter))?,?(?: (?:${FR_TYPE_STARTS.map((start) => start.replace(".", "\\.")).join("|")})?|(?: (?:${FR_TYPE})(?: [\p{L}'’ -]{0,100}${EU_OPEN_REST})?))?$`, "yu");
const EU_OPEN_SOUTH = new RegExp(String.raw`(?:${SOUTH_TYPE})(?: [\p{L}'’ -]{0,100}(?:,?(?: (?:n\.? ?|nº ?)?(?:\d{1,4}[a-zA-Z]?(?:[-/]\d{0,4}[a-zA-Z]?)?${EU_OPEN_REST})?)?)?)?$`, "yu");
const FR_TYPES = new Set(FR_TYPE.split("|"));

function europeanAddressDetector(): Detector {
  const id = "street-address-eu";
  return {
    id,
    entities: ["STREET_ADDRESS"],
    maxLength: EU_ADDRESS_MAX,
    find(text, out) {
      // Looked for only where ", " is followed by what may start a postal code.
      let after = 0;
      for (let comma = text.indexOf(", "); comma !== -1; comma = text.indexOf(", ", comma + 1)) {
        if (comma < after) continue;
        const next = text.charCodeAt(comma + 2);
        if (!isDigit(next) && !(isUpper(next) && (text.charCodeAt(comma + 3) === 0x2d || text.charCodeAt(comma + 4) === 0x2d))) continue;
        EU_POSTAL_TOWN.lastIndex = comma;
        const rest = EU_POSTAL_TOWN.exec(text);
        if (!rest) continue;
        const from = Math.max(after, comma - EU_STREET_REACH);
        const street = EU_STREET_BEFORE.exec(text.slice(from, comma));
        // A match at the slice's very start may begin inside a word the slice cut.
        if (!street || (street.index === 0 && from > 0)) continue;
        const start = from + street.index;
        after = comma + rest[0].length;
        out.push({ start, end: after, entity: "STREET_ADDRESS", score: 0.85, detector: id });
      }
    },
    openCandidate(text) {
      // The earliest word start near the end from which the rest could still become an address.
      const from = Math.max(0, text.length - EU_ADDRESS_MAX);
      for (let at = from; at < text.length; at++) {
        const c = text.charCodeAt(at);
        // Only at the start of a word that begins with a digit or a capital (character codes
        // first: this runs on every piece of a stream).
        // (Half a surrogate pair at the very end may still become a capital.)
        const lastHalf = c >= 0xd800 && c <= 0xdbff && at === text.length - 1;
        if (!isDigit(c) && !isUpper(c) && !lastHalf && (c < 0xc0 || !/^\p{Lu}/u.test(text.slice(at, at + 2)))) continue;
        if (at > 0 && isLetterOrDigitAt(text, at - 1)) continue;
        if (lastHalf) return { start: at, strong: false };
        if (isDigit(c)) {
          EU_OPEN_FR.lastIndex = at;
          if (EU_OPEN_FR.test(text)) return { start: at, strong: frenchTypeFollows(text, at) };
          continue;
        }
        for (const pattern of [EU_OPEN_DE_NL, EU_OPEN_SOUTH]) {
          pattern.lastIndex = at;
          // Distinctive once a house number has begun; a street's name alone is ordinary text.
          if (pattern.test(text)) return { start: at, strong: /\d/.test(text.slice(at)) };
        }
        EU_OPEN_WORDS.lastIndex = at;
        if (EU_OPEN_WORDS.test(text)) return { start: at, strong: false };
      }
      return undefined;
    },
  };
}

/** Whether a French street type stands whole after the number at `at` (`12 rue `): distinctive. */
function frenchTypeFollows(text: string, at: number): boolean {
  const words = text.slice(at, at + 24).split(/[ ,]+/);
  return words.length > 2 && FR_TYPES.has(words[1] === "bis" || words[1] === "ter" ? words[2]! : words[1]!);
}

// Coordinates: decimal degrees with hemispheres, degrees-minutes-seconds, a labelled latitude or
// longitude, or a bare decimal pair after a context word. Bare pairs without one are not masked:
// embeddings, scores and prices are decimal pairs too.
const LATITUDE = String.raw`[-+]?(?:[1-8]?\d\.\d{1,8}|90\.0{1,8})`;
const LONGITUDE = String.raw`[-+]?(?:1[0-7]\d\.\d{1,8}|[1-9]?\d\.\d{1,8}|180\.0{1,8})`;
const GEO_HEMISPHERES = new RegExp(String.raw`(?<![\p{L}\p{N}.])${LATITUDE} ?° ?[NS],? ?${LONGITUDE} ?° ?[EW](?![\p{L}\p{N}])`, "yu");
const GEO_DMS = new RegExp(String.raw`(?<![\p{L}\p{N}.])\d{1,3}° ?\d{1,2}['′] ?(?:\d{1,2}(?:\.\d{1,4})?\\?["″] ?)?[NSEW](?![\p{L}\p{N}])`, "yu");
/** The forms with a degree sign, and how far before its first degree sign each may begin
 * (`-89.12345678 °`; `123°`). */
const DEGREE_FORMS: ReadonlyArray<readonly [RegExp, number]> = [
  [GEO_HEMISPHERES, 13],
  [GEO_DMS, 3],
];
const GEO_LABELLED = new RegExp(String.raw`\b(?:[Ll]at(?:itude)?|[Ll]ng|[Ll]on(?:g|gitude)?|LAT|LNG|LON)["']?\s{0,4}[:=]\s{0,16}["']?(${LONGITUDE})(?![\p{L}\p{N}.])`, "gdu");
const GEO_PAIR = new RegExp(String.raw`(?<![\p{L}\p{N}.])${LATITUDE.replace("\\d{1,8}", "\\d{3,8}")}(?:, ?| )${LONGITUDE.replaceAll("\\d{1,8}", "\\d{3,8}")}(?![\p{L}\p{N}.])`, "yu");
/** At a decimal point: the decimal places of a pair's first number and the start of its second. */
const GEO_PAIR_AT_DOT = /\.\d{3}\d{0,5},? ?[-+]?\d/y;
const GEO_LABELLED_AT = new RegExp(GEO_LABELLED.source, "ydu");
/** Before a decimal point: a label, `:` or `=` and the whole part of the number (`"lat": 52`). */
const GEO_LABEL_BEFORE = /\b(?:[Ll]at(?:itude)?|[Ll]ng|[Ll]on(?:g|gitude)?|LAT|LNG|LON)["']?\s{0,4}[:=]\s{0,16}["']?[-+]?\d{1,3}$/u;
/** The longest text GEO_LABEL_BEFORE matches, and one character for its \b. */
const GEO_LABEL_REACH = 40;
/** The last letter of every label (lat, lng, lon, long, latitude, longitude, in any case). */
const LABEL_END = new Set([..."tgneTGNE"].map((c) => c.charCodeAt(0)));
const isDigitOrSign = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b;
const GEO_CONTEXT = new Set(["at", "near", "lat", "latitude", "lon", "lng", "long", "longitude", "coordinate", "coordinates", "coords", "gps", "location", "located", "geo", "geolocation", "position", "pin", "map", "maps", "lat/long", "latlng"]);
const GEO_MAX = 60;
/** What may follow the first digit of a coordinate while the text could still become one. */
const GEO_PREFIX = /^[-+]?(?:\d[\d.°'′"″\\,;/ NSEW+-]{0,58})?$/;

/** Where the label of a labelled coordinate whose decimal point is at `dot` begins; -1 if none.
 * A cheap look first: a ':' or '=' a few characters back, after a letter a label can end with
 * (a time such as 12:50:17.434 has a digit there). */
function labelBefore(text: string, dot: number): number {
  let colon = dot - 2;
  while (colon > dot - 24 && colon > 0 && text.charCodeAt(colon) !== 0x3a && text.charCodeAt(colon) !== 0x3d) colon--;
  const c = text.charCodeAt(colon);
  if (c !== 0x3a && c !== 0x3d) return -1;
  let end = colon - 1;
  for (let spaces = 0; spaces < 4 && end >= 0 && /\s/.test(text[end]!); spaces++) end--;
  if (text.charCodeAt(end) === 0x22 || text.charCodeAt(end) === 0x27) end--;
  if (!LABEL_END.has(text.charCodeAt(end))) return -1;
  const from = Math.max(0, dot - GEO_LABEL_REACH);
  const label = GEO_LABEL_BEFORE.exec(text.slice(from, dot));
  return label ? from + label.index : -1;
}

/** The matches of a sticky pattern whose first `literal` is at most `reach` characters after its
 * start, in order and not overlapping, as one scan from left to right finds them: the pattern is
 * tried only just before each occurrence of the literal, each place once. */
function* matchesBefore(text: string, literal: string, reach: number, pattern: RegExp): Generator<RegExpExecArray> {
  let tried = 0;
  for (let at = text.indexOf(literal); at !== -1; at = text.indexOf(literal, at + 1)) {
    for (let start = Math.max(tried, at - reach); start < at; start++) {
      pattern.lastIndex = start;
      const match = pattern.exec(text);
      if (match) {
        yield match;
        tried = match.index + match[0].length;
        break;
      }
    }
    tried = Math.max(tried, at);
  }
}

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
      for (const [pattern, reach] of DEGREE_FORMS) {
        for (const match of matchesBefore(text, "°", reach, pattern)) push(out, match.index, match.index + match[0].length);
      }
      // Labelled numbers and pairs both have a decimal point: found with indexOf.
      let after = 0;
      for (let dot = text.indexOf("."); dot !== -1; dot = text.indexOf(".", dot + 1)) {
        if (!isDigit(text.charCodeAt(dot - 1)) || !isDigit(text.charCodeAt(dot + 1))) continue;
        const label = labelBefore(text, dot);
        if (label >= 0) {
          GEO_LABELLED_AT.lastIndex = label;
          const match = GEO_LABELLED_AT.exec(text);
          if (match) push(out, ...match.indices![1]!);
        }
        if (dot < after) continue;
        GEO_PAIR_AT_DOT.lastIndex = dot;
        if (!GEO_PAIR_AT_DOT.test(text)) continue;
        let start = dot;
        while (start > after && isDigitOrSign(text.charCodeAt(start - 1))) start--;
        GEO_PAIR.lastIndex = start;
        const match = GEO_PAIR.exec(text);
        if (!match) continue;
        after = match.index + match[0].length;
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
  return [personDetector(), streetAddressDetector(), europeanAddressDetector(), geoCoordinateDetector()];
}
