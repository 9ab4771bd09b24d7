/**
 * `Value.Set` arithmetic: a set of strings that keeps first-insertion order (so a resource read from
 * the wire is written back with its items in the same order) while comparing as a set.
 */

/** Sets up to this size are searched linearly; larger ones get a hash lookup on first use. */
const LINEAR_SEARCH_LIMIT = 8;

export class ValueSet {
  static readonly EMPTY = new ValueSet([]);

  private readonly list: readonly string[];
  private lookup: ReadonlySet<string> | undefined;

  private constructor(list: readonly string[]) {
    this.list = list;
    this.lookup = undefined;
  }

  /** A set of `items`; a repeated item is kept once, at its first position. */
  static of(items: Iterable<string>): ValueSet {
    const unique = [...new Set(items)];
    return unique.length === 0 ? ValueSet.EMPTY : new ValueSet(unique);
  }

  get size(): number {
    return this.list.length;
  }

  isEmpty(): boolean {
    return this.list.length === 0;
  }

  /** Items in first-insertion order. */
  items(): readonly string[] {
    return this.list;
  }

  has(item: string): boolean {
    if (this.list.length <= LINEAR_SEARCH_LIMIT) return this.list.includes(item);
    this.lookup ??= new Set(this.list);
    return this.lookup.has(item);
  }

  /** Union; items of `other` not already present are appended in their order. */
  add(other: ValueSet): ValueSet {
    if (other.list.length === 0) return this;
    if (this.list.length === 0) return other;
    const extra = other.list.filter((item) => !this.has(item));
    return extra.length === 0 ? this : new ValueSet([...this.list, ...extra]);
  }

  subtract(other: ValueSet): ValueSet {
    if (other.list.length === 0 || this.list.length === 0) return this;
    const kept = this.list.filter((item) => !other.has(item));
    if (kept.length === this.list.length) return this;
    return kept.length === 0 ? ValueSet.EMPTY : new ValueSet(kept);
  }

  intersection(other: ValueSet): ValueSet {
    const kept = this.list.filter((item) => other.has(item));
    if (kept.length === this.list.length) return this;
    return kept.length === 0 ? ValueSet.EMPTY : new ValueSet(kept);
  }

  /** Whether every item of `other` is in this set. */
  contains(other: ValueSet): boolean {
    if (other.list.length > this.list.length) return false;
    return other.list.every((item) => this.has(item));
  }

  equals(other: ValueSet): boolean {
    return this === other || (this.list.length === other.list.length && this.contains(other));
  }

  /** Mesos' text form: `{a, b}`; `{}` when empty. */
  toString(): string {
    return this.format(', ');
  }

  /** The text form with a chosen separator; the agent flag syntax uses `,`. */
  format(separator: string): string {
    return `{${this.list.join(separator)}}`;
  }
}
