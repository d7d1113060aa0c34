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

function checkDate64(d: Data, where: string): void {
  const values = d.values as BigInt64Array;
  for (let i = 0; i < d.length; i++) {
    const ms = Number(values[i]);
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
  const limit = Number(day);
  for (let i = 0; i < d.length; i++) {
    const v = Number(values[i]);
    if ((v >= 0 && v < limit) || !d.getValid(i)) continue;
    throw new InputError(
      `arrowtable ${where} value ${i} is ${values[i]} ${TimeUnit[unit].toLowerCase()}s in a Time column, outside one day ` +
        `(0 to ${day - 1n}; pyarrow refuses the table): use a Duration for a length of time`,
    );
  }
}

function checkPrecision(d: Data, type: Decimal, where: string): void {
  const words = d.values as Uint32Array;
  const stride = type.bitWidth / 32;
  const limit = 10n ** BigInt(type.precision);
  const bits = BigInt(type.bitWidth);
  for (let i = 0; i < d.length; i++) {
    // Little-endian 32-bit words of a two's-complement integer.
    let v = 0n;
    for (let w = stride - 1; w >= 0; w--) v = (v << 32n) | BigInt(words[i * stride + w]);
    if (v >> (bits - 1n)) v -= 1n << bits;
    if ((v < limit && v > -limit) || !d.getValid(i)) continue;
    throw new InputError(
      `arrowtable ${where} value ${i} has the unscaled value ${v}, more digits than the Decimal's precision ${type.precision} ` +
        `(pyarrow refuses the table): give the column a larger precision`,
    );
  }
}
