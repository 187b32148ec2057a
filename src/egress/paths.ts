// Where an egress call may go below its route's base URL. The receive stage has already refused
// dot segments, encoded '/' and '\', NUL and control characters (src/receive/target.ts), so the
// decoded segments here cannot climb out of the route; the patterns are matched against them.

/** A route's path pattern against a call's decoded segments: literal segments match exactly,
 * '*' matches one non-empty segment, a final '**' matches any rest (none included). */
export function pathMatches(pattern: string, segments: readonly string[]): boolean {
  const parts = pattern.split("/").slice(1);
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index]!;
    if (part === "**") return true;
    const segment = segments[index];
    if (segment === undefined) return false;
    if (part === "*") {
      if (segment === "") return false;
      continue;
    }
    if (safeDecode(part) !== segment) return false;
  }
  return segments.length === parts.length;
}

/** A decoded segment as sent downstream: percent-encoded, except the characters RFC 3986 §3.3
 * allows in a segment as they are (':' and '@' included: Google's models/x:generateContent). */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(3A|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/gi, (escape) => decodeURIComponent(escape));
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
