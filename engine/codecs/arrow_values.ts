/**
 * Values an apache-arrow `Table` can hold that the Arrow format does not
 * allow, refused before they are sent.
 *
 * apache-arrow builds them without a word (a `Date` with a time of day in a
 * Date64 column, 25 h in a Time column, 123456 in a `Decimal` of precision 3)
 * and reads them back as they were, so a TypeScript receiver took them; a
 * Python receiver (pyarrow validates what it reads) refused the whole message
 * as invalid Arrow. Only columns of those types are looked at, so other
 * tables cost nothing more.
 *
 * @module
 */
import { type Data, type Date_, DateUnit, type Decimal, type Table, type Time, TimeUnit, Type } from "apache-arrow";
import { InputError } from "../errors.ts";

const MS_PER_DAY = 86_400_000;
/** Each Time unit's length of a day: a time of day lies in [0, that). */
const DAY_IN: Record<TimeUnit, bigint> = {
  [TimeUnit.SECOND]: 86_400n,
  [TimeUnit.MILLISECOND]: 86_400_000n,
  [TimeUnit.MICROSECOND]: 86_400_000_000n,
  [TimeUnit.NANOSECOND]: 86_400_000_000_000n,
};

/**
 * Throws unless every value of `table` that is not null is one the Arrow
 * format allows for its type: a Date64 a whole number of days, a Time within
 * one day, a Decimal within its precision.
 *
 * @param table The table about to be sent.
 * @throws {InputError} Naming the column, the value and what to do.
 *
 * @example
 * ```ts
 * import { DateDay, Table, vectorFromArray } from "apache-arrow";
 * import { checkArrowValues } from "./arrow_values.ts";
 * checkArrowValues(new Table({ day: vectorFromArray([new Date(Date.UTC(2026, 0, 1))], new DateDay()) }));
 * ```
 */
export function checkArrowValues(table: Table): void {
  const fields = table.schema.fields;
  for (const batch of table.batches) {
    for (const [i, child] of (batch.data.children ?? []).entries()) checkData(child, `column "${fields[i]?.name ?? i}"`);
  }
}

function checkData(d: Data, where: string): void {
  const type = d.type;
  switch (type.typeId) {
    case Type.Date:
      if ((type as Date_).unit === DateUnit.MILLISECOND) checkDate64(d, where);
      return;
    case Type.Time:
      checkTimeOfDay(d, (type as Time).unit, where);
      return;
    case Type.Decimal:
      checkPrecision(d, type as Decimal, where);
      return;
    case Type.Dictionary:
      for (const chunk of d.dictionary?.data ?? []) checkData(chunk as Data, `${where} (dictionary)`);
      return;
    default:
      // apache-arrow leaves some Data without children (an empty Null vector's).
      for (const child of d.children ?? []) checkData(child, where);
  }
}

// 64-bit values are read as two 32-bit words, as a number where it is exact
// (within ±2^53): a BigInt per value cost 25–112 ms per million values (Bun,
// Decimal128), the words cost about 1/10 of that.
const TWO_32 = 2 ** 32;
/** Highest word of a value within ±2^53, above its low 32 bits. */
const HIGH_53 = 2 ** 21;

/** Words of `values` (a BigInt64Array or Uint32Array) as signed 32-bit integers, to read 64-bit values by halves. */
function wordsOf(values: ArrayBufferView): Int32Array {
  return new Int32Array(values.buffer, values.byteOffset, values.byteLength >> 2);
}

/** The value of the little-endian 64 bits at `words[at]` and `words[at + 1]`, or `undefined` beyond ±2^53. */
function int64At(words: Int32Array, at: number): number | undefined {
  const high = words[at + 1];
  if (high >= HIGH_53 || high < -HIGH_53) return undefined;
  return high * TWO_32 + (words[at] >>> 0);
}

function checkDate64(d: Data, where: string): void {
  const values = d.values as BigInt64Array;
  const words = wordsOf(values);
  for (let i = 0; i < d.length; i++) {
    const ms = int64At(words, 2 * i) ?? Number(values[i]);
    if (ms % MS_PER_DAY === 0 || !d.getValid(i)) continue;
    throw new InputError(
      `arrowtable ${where} value ${i} is ${new Date(ms).toISOString()} in a DateMillisecond (Date64) column, whose values the ` +
        `Arrow format allows only as whole days (pyarrow refuses the table): use DateDay for dates, TimestampMillisecond for a time`,
    );
  }
}

function checkTimeOfDay(d: Data, unit: TimeUnit, where: string): void {
  const values = d.values as Int32Array | BigInt64Array;
  const day = DAY_IN[unit];
  const limit = Number(day); // at most 8.64e13: exact
  const words = values instanceof BigInt64Array ? wordsOf(values) : undefined;
  for (let i = 0; i < d.length; i++) {
    const v = words ? int64At(words, 2 * i) ?? Number(values[i]) : values[i] as number;
    if ((v >= 0 && v < limit) || !d.getValid(i)) continue;
    throw new InputError(
      `arrowtable ${where} value ${i} is ${values[i]} ${TimeUnit[unit].toLowerCase()}s in a Time column, outside one day ` +
        `(0 to ${day - 1n}; pyarrow refuses the table): use a Duration for a length of time`,
    );
  }
}

function checkPrecision(d: Data, type: Decimal, where: string): void {
  const words = wordsOf(d.values as Uint32Array);
  const stride = type.bitWidth / 32;
  const limit = 10n ** BigInt(type.precision);
  // Exact as a number up to 10^15; from 10^16 up every value within ±2^53 is inside it.
  const limitAsNumber = type.precision <= 15 ? 10 ** type.precision : Infinity;
  const bits = BigInt(type.bitWidth);
  for (let i = 0; i < d.length; i++) {
    const at = i * stride;
    let small: number | undefined;
    if (stride === 1) small = words[at];
    else {
      // Within ±2^53 when every word above the low two only extends the sign.
      small = int64At(words, at);
      const sign = words[at + 1] < 0 ? -1 : 0;
      for (let w = 2; small !== undefined && w < stride; w++) if (words[at + w] !== sign) small = undefined;
    }
    if (small !== undefined && Math.abs(small) < limitAsNumber) continue;
    // Little-endian 32-bit words of a two's-complement integer.
    let v = 0n;
    for (let w = stride - 1; w >= 0; w--) v = (v << 32n) | BigInt(words[at + w] >>> 0);
    if (v >> (bits - 1n)) v -= 1n << bits;
    if ((v < limit && v > -limit) || !d.getValid(i)) continue;
    throw new InputError(
      `arrowtable ${where} value ${i} has the unscaled value ${v}, more digits than the Decimal's precision ${type.precision} ` +
        `(pyarrow refuses the table): give the column a larger precision`,
    );
  }
}
