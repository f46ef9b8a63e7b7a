/**
 * One-dimensional float8[] and text[] parameters in PostgreSQL's binary array format (issue 13: CPU
 * per message). node-postgres sends a Buffer parameter in binary format; the server reads it with
 * array_recv for the type the statement casts it to (`$1::float8[]`), so no number is printed as
 * text by the hub and parsed back by the server, and nothing is escaped. For a batch of 7,500
 * readings this replaces about 15 ms of the hub's `prepareValue`/`escapeElement` on the event loop.
 *
 * Layout (src/backend/utils/adt/arrayfuncs.c, array_recv): int32 ndim, int32 has-nulls flag,
 * int32 element type OID, then per dimension int32 length and int32 lower bound, then per element
 * int32 byte length (-1 for NULL) and the element's own binary form: float8 is the IEEE 754 double,
 * big-endian (float8recv); text is its UTF-8 bytes (textrecv).
 *
 * Used by the `pg` driver for every batch, and by PGlite's prepared writes (store/pglite-run.mjs):
 * there a Uint8Array parameter of a Bind message is binary too. Plain JavaScript: the embedded
 * store's worker thread, which has no TypeScript loader, imports it.
 */

const FLOAT8_OID = 701;
const TEXT_OID = 25;
const HEADER = 20;

function header(buf, n, hasNulls, oid) {
  buf.writeInt32BE(1, 0); // ndim
  buf.writeInt32BE(hasNulls ? 1 : 0, 4);
  buf.writeInt32BE(oid, 8);
  buf.writeInt32BE(n, 12); // length of the one dimension
  buf.writeInt32BE(1, 16); // lower bound
}

/** A float8[] parameter; null and undefined elements are NULL. */
export function float8ArrayParam(values) {
  const n = values.length;
  let nulls = 0;
  // An index loop: `for…of` allocated an iterator result per element where V8 did not optimise it
  // (issue 13, seen in the hub's allocation profile).
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) nulls++;
  }
  const buf = Buffer.allocUnsafe(HEADER + (n - nulls) * 12 + nulls * 4);
  header(buf, n, nulls > 0, FLOAT8_OID);
  let o = HEADER;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      buf.writeInt32BE(-1, o);
      o += 4;
    } else {
      buf.writeInt32BE(8, o);
      buf.writeDoubleBE(v, o + 4);
      o += 12;
    }
  }
  return buf;
}

/**
 * A text[] parameter; null and undefined elements are NULL. The strings must be text the store can
 * hold (no NUL: storableText), as for any text parameter.
 */
export function textArrayParam(values) {
  const n = values.length;
  let size = HEADER;
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      nulls++;
      size += 4;
    } else size += 4 + utf8Length(v);
  }
  const buf = Buffer.allocUnsafe(size);
  header(buf, n, nulls > 0, TEXT_OID);
  let o = HEADER;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      buf.writeInt32BE(-1, o);
      o += 4;
      continue;
    }
    // Device ids and keys are short and nearly always ASCII: copied by hand, which is several
    // times cheaper than a call into the encoder for each one.
    let len = v.length;
    let ascii = len <= 64;
    if (ascii)
      for (let j = 0; j < len; j++) {
        const c = v.charCodeAt(j);
        if (c > 0x7f) {
          ascii = false;
          break;
        }
        buf[o + 4 + j] = c;
      }
    if (!ascii) len = buf.write(v, o + 4, 'utf8');
    buf.writeInt32BE(len, o);
    o += 4 + len;
  }
  return buf;
}

/** UTF-8 length of a string: its length when short and ASCII, else the encoder's count. */
function utf8Length(v) {
  if (v.length > 64) return Buffer.byteLength(v, 'utf8');
  for (let j = 0; j < v.length; j++) if (v.charCodeAt(j) > 0x7f) return Buffer.byteLength(v, 'utf8');
  return v.length;
}

const ENCODE = { 'float8[]': float8ArrayParam, 'text[]': textArrayParam };

/**
 * The parameters of a prepared write (store/db.ts, Prepared), each encoded for its declared type.
 * Throws, naming the statement, when they do not fit it.
 */
export function binaryParams(statement, params) {
  if (!Array.isArray(params) || params.length !== statement.types.length)
    throw new Error(
      `${statement.name}: ${Array.isArray(params) ? params.length : 'no'} parameters given, the statement takes ${statement.types.length}`,
    );
  return statement.types.map((type, i) => {
    const encode = ENCODE[type];
    if (!encode) throw new Error(`${statement.name}: no binary encoding for parameter type ${type}`);
    if (!Array.isArray(params[i])) throw new Error(`${statement.name}: parameter $${i + 1} is not an array`);
    return encode(params[i]);
  });
}
