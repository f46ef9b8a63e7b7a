/** Wording shared by the simulators' file validators (fleet files, scenarios): paths and values. */

/** `devices[1].location.lat`, `devices["bin a"]` — how a place in a file is named in an error. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      out += /^[A-Za-z_$][\w$-]*$/.test(s) ? `${out ? '.' : ''}${s}` : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** What a value was, for "expected …, got …": `"30.26"`, `null`, `a list`, `an object`. */
export function describeValue(v: unknown, objectNoun = 'an object'): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return objectNoun;
  return String(v);
}
