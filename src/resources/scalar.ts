/**
 * Fixed-point scalar arithmetic, the way Mesos does it: a scalar resource value is kept as an integer
 * number of thousandths ("milli" units). Converting a double to milli multiplies by 1000 and rounds half
 * away from zero (C's `llround`), so `0.1 + 0.2` is exactly `0.3` and any sequence of additions and
 * subtractions is exact: integers below 2^53 add without error in a double.
 *
 * Range: milli values are exact up to Number.MAX_SAFE_INTEGER thousandths (about 9.007e12 units, i.e.
 * 9 exabytes of `mem`/`disk` counted in megabytes). Mesos uses a 64-bit integer here, but its inputs
 * are doubles, so beyond 2^53 neither implementation can be exact anyway.
 */

/** Number of milli units in one unit. */
export const MILLI_PER_UNIT = 1000;

/** Converts a floating value to integer thousandths, rounding half away from zero like `llround`. */
export function toMilli(value: number): number {
  const scaled = value * MILLI_PER_UNIT;
  // `+ 0` turns a negative zero into a positive one so results compare and print cleanly.
  return (scaled < 0 ? -Math.round(-scaled) : Math.round(scaled)) + 0;
}

/** Converts integer thousandths back to the floating value Mesos would report (`fixed / 1000.0`). */
export function fromMilli(milli: number): number {
  return milli / MILLI_PER_UNIT;
}

/** Rounds a floating value to the 0.001 resolution that scalar resources have. */
export function roundScalar(value: number): number {
  return fromMilli(toMilli(value));
}

/** Adds two floating scalars with Mesos' fixed-point semantics. */
export function addScalars(left: number, right: number): number {
  return fromMilli(toMilli(left) + toMilli(right));
}

/** Subtracts two floating scalars with Mesos' fixed-point semantics. */
export function subtractScalars(left: number, right: number): number {
  return fromMilli(toMilli(left) - toMilli(right));
}

/** Compares two floating scalars at 0.001 resolution: negative, zero or positive like a comparator. */
export function compareScalars(left: number, right: number): number {
  return toMilli(left) - toMilli(right);
}

/** Shortest text for a milli value: `1`, `0.5`, `1024`, `0.001`. */
export function formatMilli(milli: number): string {
  return String(fromMilli(milli));
}

/** An immutable `Value.Scalar` held in integer thousandths. */
export class Scalar {
  static readonly ZERO = new Scalar(0);

  /** The value in integer thousandths. */
  readonly milli: number;

  constructor(milli: number) {
    this.milli = milli;
  }

  /** The scalar nearest to `value` at 0.001 resolution. */
  static of(value: number): Scalar {
    return new Scalar(toMilli(value));
  }

  /** The floating value, as it goes on the wire. */
  get value(): number {
    return fromMilli(this.milli);
  }

  isEmpty(): boolean {
    return this.milli === 0;
  }

  add(other: Scalar): Scalar {
    return new Scalar(this.milli + other.milli);
  }

  subtract(other: Scalar): Scalar {
    return new Scalar(this.milli - other.milli);
  }

  contains(other: Scalar): boolean {
    return this.milli >= other.milli;
  }

  equals(other: Scalar): boolean {
    return this.milli === other.milli;
  }

  toString(): string {
    return formatMilli(this.milli);
  }
}
