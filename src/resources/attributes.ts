/**
 * Agent attributes: the `--attributes` flag (`rack:r1;zone:z;level:3;ports:[1-5];tags:{a,b}`), the
 * generated `Attribute` messages, and the legacy JSON object (`{"rack":"r1","level":3.0}`).
 *
 * A value is a scalar when it reads as a number, ranges in `[..]`, a set in `{..}`, and text
 * otherwise (Mesos' `Attributes::parse`). Only the first `:` separates name from value, so text may
 * contain colons (`url:http://x`). Attribute scalars keep their full double value: unlike resources
 * they are labels, never added up.
 */
import { create } from '@bufbuild/protobuf';
import type { ErrorParams } from '../common/errors.js';
import { fail } from '../common/errors.js';
import type { Attribute } from '../wire/gen/mesos/v1/mesos_pb.js';
import {
  AttributeSchema,
  Value_RangeSchema,
  Value_RangesSchema,
  Value_ScalarSchema,
  Value_SetSchema,
  Value_TextSchema,
  Value_Type,
} from '../wire/gen/mesos/v1/mesos_pb.js';
import type { JsonObject } from '../wire/json-text.js';
import { JsonNumber } from '../wire/json-text.js';
import { Ranges } from './ranges.js';
import { parseTextValue } from './text-values.js';
import { ValueSet } from './value-set.js';

export type AttributeItem =
  | { readonly name: string; readonly type: 'SCALAR'; readonly scalar: number }
  | { readonly name: string; readonly type: 'RANGES'; readonly ranges: Ranges }
  | { readonly name: string; readonly type: 'SET'; readonly set: ValueSet }
  | { readonly name: string; readonly type: 'TEXT'; readonly text: string };

function attributesError(input: string, detail: string, token: string): never {
  const params: ErrorParams = { input, detail, token };
  return fail('ATTRIBUTES_PARSE', params);
}

/**
 * Parses an agent `--attributes` value. Tokens are separated by `;` or newlines; empty ones are
 * skipped. A repeated name is kept twice, as Mesos does. Errors are ATTRIBUTES_PARSE naming the token.
 */
export function parseAttributes(text: string): AttributeItem[] {
  const attributes: AttributeItem[] = [];
  for (const rawToken of text.split(/[;\n]/)) {
    const token = rawToken.trim();
    if (token === '') continue;
    const colon = token.indexOf(':');
    const name = colon < 0 ? '' : token.slice(0, colon).trim();
    const valueText = colon < 0 ? '' : token.slice(colon + 1);
    if (name === '' || valueText.trim() === '') {
      attributesError(text, `Invalid attribute key:value pair '${token}'`, token);
    }
    const value = parseTextValue(valueText);
    if ('error' in value) {
      attributesError(
        text,
        `Failed to parse attribute ${name} text ${valueText.trim()} error ${value.error}`,
        token,
      );
    }
    switch (value.type) {
      case 'SCALAR':
        attributes.push({ name, type: 'SCALAR', scalar: value.scalar });
        break;
      case 'RANGES':
        attributes.push({ name, type: 'RANGES', ranges: Ranges.of(value.ranges) });
        break;
      case 'SET':
        attributes.push({ name, type: 'SET', set: ValueSet.of(value.set) });
        break;
      default:
        attributes.push({ name, type: 'TEXT', text: value.text });
    }
  }
  return attributes;
}

function attributeValueText(attribute: AttributeItem, separator: string): string {
  switch (attribute.type) {
    case 'SCALAR':
      return String(attribute.scalar);
    case 'RANGES':
      return attribute.ranges.format(separator);
    case 'SET':
      return attribute.set.format(separator);
    default:
      return attribute.text;
  }
}

/**
 * Writes attributes in the `--attributes` syntax. Reads back equal for every attribute the syntax can
 * express (text that looks like a number, or contains `;`, brackets or whitespace, cannot be).
 */
export function formatAttributes(attributes: readonly AttributeItem[]): string {
  return attributes.map((attribute) => `${attribute.name}:${attributeValueText(attribute, ',')}`).join(';');
}

/** Mesos' `Attribute` text, e.g. `rack:r1` or `ports:[1-5, 7-9]`. */
export function formatAttribute(attribute: AttributeItem): string {
  return `${attribute.name}:${attributeValueText(attribute, ', ')}`;
}

/**
 * The legacy JSON object (`/state` `attributes`): scalar → number (written `3.0`), ranges and sets →
 * their bracket text (`"[1-5]"`, `"{a, b}"`), text → string. A repeated name keeps the last value.
 */
export function attributesToLegacyJson(attributes: readonly AttributeItem[]): JsonObject {
  const object: JsonObject = {};
  for (const attribute of attributes) {
    object[attribute.name] =
      attribute.type === 'SCALAR'
        ? JsonNumber.ofDouble(attribute.scalar)
        : attributeValueText(attribute, ', ');
  }
  return object;
}

export function attributeToMessage(attribute: AttributeItem): Attribute {
  const message = create(AttributeSchema, { name: attribute.name });
  switch (attribute.type) {
    case 'SCALAR':
      message.type = Value_Type.SCALAR;
      message.scalar = create(Value_ScalarSchema, { value: attribute.scalar });
      break;
    case 'RANGES':
      message.type = Value_Type.RANGES;
      message.ranges = create(Value_RangesSchema, {
        range: attribute.ranges
          .toArray()
          .map((range) => create(Value_RangeSchema, { begin: BigInt(range.begin), end: BigInt(range.end) })),
      });
      break;
    case 'SET':
      message.type = Value_Type.SET;
      message.set = create(Value_SetSchema, { item: [...attribute.set.items()] });
      break;
    default:
      message.type = Value_Type.TEXT;
      message.text = create(Value_TextSchema, { value: attribute.text });
  }
  return message;
}

/**
 * The attribute a message holds. Throws RESOURCES_INVALID when the message has no value of its
 * type or its ranges are not uint64 pairs with begin <= end.
 */
export function attributeFromMessage(message: Attribute): AttributeItem {
  const name = message.name;
  switch (message.type) {
    case Value_Type.SCALAR:
      if (message.scalar !== undefined) return { name, type: 'SCALAR', scalar: message.scalar.value };
      break;
    case Value_Type.RANGES:
      if (message.ranges !== undefined) {
        return {
          name,
          type: 'RANGES',
          ranges: Ranges.of(message.ranges.range.map((r) => ({ begin: r.begin, end: r.end }))),
        };
      }
      break;
    case Value_Type.SET:
      if (message.set !== undefined) return { name, type: 'SET', set: ValueSet.of(message.set.item) };
      break;
    case Value_Type.TEXT:
      if (message.text !== undefined) return { name, type: 'TEXT', text: message.text.value };
      break;
    default:
      break;
  }
  return fail('RESOURCES_INVALID', {
    resource: `attribute '${name}'`,
    detail: 'value does not match its type',
  });
}

export function attributesToMessages(attributes: readonly AttributeItem[]): Attribute[] {
  return attributes.map(attributeToMessage);
}

export function attributesFromMessages(messages: Iterable<Attribute>): AttributeItem[] {
  return Array.from(messages, attributeFromMessage);
}
