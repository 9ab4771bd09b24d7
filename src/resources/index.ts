/**
 * Public surface of src/resources: resource arithmetic for the master and the allocator. See
 * README.md in this directory for the vocabulary and how precision works.
 */
export type { AttributeItem } from './attributes.js';
export {
  attributeFromMessage,
  attributesFromMessages,
  attributesToLegacyJson,
  attributesToMessages,
  attributeToMessage,
  formatAttribute,
  formatAttributes,
  parseAttributes,
} from './attributes.js';
export { formatResources, parseResourceInputs, parseResources } from './flags.js';
export {
  resourceInputFromMessage,
  resourceInputsFromJson,
  resourceInputToMessage,
  resourcesFromMessages,
  resourcesToJson,
  resourcesToMessages,
  validateResourceMessages,
} from './messages.js';
export type {
  CreateValidationOptions,
  DestroyValidationOptions,
  ReserveValidationOptions,
} from './operations.js';
export {
  applyCheckpointed,
  applyConversion,
  applyCreate,
  applyDestroy,
  applyGrowVolume,
  applyReserve,
  applyShrinkVolume,
  applyUnreserve,
  checkpointedOf,
  validateCreate,
  validateDestroy,
  validateReserve,
  validateUnreserve,
} from './operations.js';
export type { Range, RangeBound } from './ranges.js';
export { Ranges, UINT64_MAX } from './ranges.js';
export type {
  AllocationInfo,
  DiskInfo,
  DiskSource,
  DiskSourceType,
  Label,
  Persistence,
  Reservation,
  ReservationInfo,
  ReservationType,
  ResourceInput,
  ResourceMeta,
  ResourceValue,
  ResourceValueType,
  ValueTypeName,
  VolumeInfo,
  VolumeMode,
} from './resource.js';
export { ResourceItem } from './resource.js';
export type { ResourceFormat } from './resources.js';
export { Resources, toInput } from './resources.js';
export {
  DEFAULT_ROLE,
  isRoleInSubtree,
  isStrictSubroleOf,
  roleAncestors,
  validateRole,
} from './roles.js';
export {
  addScalars,
  compareScalars,
  fromMilli,
  roundScalar,
  Scalar,
  subtractScalars,
  toMilli,
} from './scalar.js';
export { shrinkToQuantities } from './shrink.js';
export { legacySummaryValues, toLegacySummary } from './summary.js';
export type { TextValue } from './text-values.js';
export { parseTextValue } from './text-values.js';
export {
  assertValidResources,
  formatResourceInput,
  toResourceItem,
  validateDiskInfo,
  validateDynamicReservationInfo,
  validateGpus,
  validateReservationStack,
  validateResource,
  validateResources,
  validateResourcesForMaster,
  validateRevocableMix,
  validateUniquePersistenceIds,
} from './validate.js';
export { ValueSet } from './value-set.js';
