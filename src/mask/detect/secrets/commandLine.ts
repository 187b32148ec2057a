// Passwords on command lines: `mysql -pS3cret`, `--password=S3cret`, `--password S3cret`.
import { ALNUM, BACKSLASH, BLANK, CODE_DASH, CODE_EQUALS, COMMA, DASH, isIn, matchLiteral, NEWLINE, QUOTE, RAN_OUT, runUntil, UNDERSCORE } from "../lexer.js";
import { anchor, partialLiteralAtEnd, type Rule, type Sink } from "./rules.js";
import { characterKinds, isJoinedWords, isTemplatePlaceholder } from "./values.js";

const CLI_PASSWORD_MAX = 128;
const CLI_PASSWORD_STOP = BLANK | NEWLINE | QUOTE | BACKSLASH | COMMA;
/** Clients whose `-p` takes the password glued on (mysql(1): "-ppassword, no space"). */
const GLUED_P_COMMANDS = /\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb|mariadb-dump|sshpass)\b/i;
const CLI_CONTEXT_MAX = 256;

/** A password, not a word or a template: `--password flag` is prose, `--password hunter2` is not. */
function isCliPassword(value: string, glued: boolean): boolean {
  if (value.length < (glued ? 3 : 4) || isTemplatePlaceholder(value) || isJoinedWords(value)) return false;
  return glued || characterKinds(value) >= 2 || value.length >= 12;
}

/** Where the value after `--password`, `--passwd` or `--pass` starts (`=` or one space), undefined
 * when there is none or the text ends first (then reported open). */
function cliPasswordValue(text: string, at: number, final: boolean, sink: Sink): number | undefined {
  for (const flag of ["--password", "--passwd", "--pass"]) {
    const end = matchLiteral(text, at, flag);
    if (end === RAN_OUT) {
      if (!final) sink.open(at, text.length - at >= 6);
      return undefined;
    }
    if (end < 0) continue;
    if (end === text.length) {
      if (!final) sink.open(at, true);
      return undefined;
    }
    const next = text.charCodeAt(end);
    if (next === CODE_EQUALS || next === 0x20) return end + 1;
    if (isIn(next, ALNUM | DASH | UNDERSCORE)) continue; // --password-file, --passwords
    return undefined;
  }
  return undefined;
}

function reportCliPassword(text: string, valueStart: number, final: boolean, sink: Sink, glued: boolean): void {
  const quote = text.charCodeAt(valueStart);
  const quoted = quote === 0x22 || quote === 0x27;
  const start = quoted ? valueStart + 1 : valueStart;
  const end = quoted ? runUntil(text, start, NEWLINE, CLI_PASSWORD_MAX + 1, quote) : runUntil(text, start, CLI_PASSWORD_STOP, CLI_PASSWORD_MAX + 1);
  if (end - start > CLI_PASSWORD_MAX) return;
  if (end === text.length && !final) return sink.open(start, true);
  if (quoted && text.charCodeAt(end) !== quote) return;
  if (isCliPassword(text.slice(start, end), glued)) sink.found({ start, end, entity: "PASSWORD", score: 1, detector: "cli-password" });
}

export const cliPasswordRules: Rule[] = [
  {
    id: "cli-password",
    entity: "PASSWORD",
    // `-p` at offset 1, shared with the glued `-p` rule below: one pass finds both.
    anchors: [anchor("-p", 1)],
    maxLength: CLI_PASSWORD_MAX,
    reach: "--password=".length + CLI_PASSWORD_MAX + 2,
    evaluate(text, at, final, sink) {
      if (at < 0 || text.charCodeAt(at) !== CODE_DASH || (at > 0 && !isIn(text.charCodeAt(at - 1), BLANK | NEWLINE | QUOTE))) return;
      const valueStart = cliPasswordValue(text, at, final, sink);
      if (valueStart === undefined) return;
      if (valueStart === text.length) return final ? undefined : sink.open(valueStart, true);
      reportCliPassword(text, valueStart, final, sink, false);
    },
    trailing: (text) => partialLiteralAtEnd(text, ["--pass"], ALNUM | DASH, 3),
  },
  {
    id: "cli-password",
    entity: "PASSWORD",
    // ` -p`: the space at `at`, found from the `-p` anchor the `--password` rule also uses. The
    // command name is checked on the line only at these rare hits: anchoring on the names
    // (`mysql`, `mariadb`, `sshpass`) would take three searches for frequent first letters.
    anchors: [anchor("-p", 1)],
    maxLength: CLI_PASSWORD_MAX,
    reach: 3 + CLI_PASSWORD_MAX + 2,
    evaluate(text, at, final, sink) {
      if (at < 0 || text.charCodeAt(at) !== 0x20) return;
      const valueStart = at + 3;
      // `-p` alone prompts for the password (or, with a space, names the database): nothing to mask.
      if (valueStart >= text.length || isIn(text.charCodeAt(valueStart), BLANK | NEWLINE)) return;
      const lineStart = Math.max(0, at - CLI_CONTEXT_MAX, text.lastIndexOf("\n", at) + 1);
      if (!GLUED_P_COMMANDS.test(text.slice(lineStart, at))) return;
      reportCliPassword(text, valueStart, final, sink, true);
    },
    trailing: () => undefined, // the value starts after `-p`; nothing before it is held
  },
];
