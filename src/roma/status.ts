/**
 * Statuses and file kinds, both ways between ours and ROMA's. Shared by the result and `/generate`
 * codecs.
 */
import type { BundleStatus, FileKind } from '../bundle.js';
import type { RomaArtifactType, RomaExecutionStatus } from './schemas.js';

const STATUS_TO_ROMA: Readonly<Record<BundleStatus, RomaExecutionStatus>> = {
  success: 'SUCCESS',
  partial_success: 'PARTIAL_SUCCESS',
  failure: 'FAILURE',
  timeout: 'TIMEOUT',
  // ROMA has no "cancelled": the run produced nothing it can rely on.
  cancelled: 'FAILURE',
};

const STATUS_FROM_ROMA: Readonly<Record<RomaExecutionStatus, BundleStatus>> = {
  SUCCESS: 'success',
  PARTIAL_SUCCESS: 'partial_success',
  FAILURE: 'failure',
  TIMEOUT: 'timeout',
  // ROMA counts CACHE_HIT as a success (`PTCArtifactResult.success`).
  CACHE_HIT: 'success',
};

/** Our status as ROMA's: `cancelled` becomes `FAILURE` (ROMA has no cancelled). */
export function toRomaStatus(status: BundleStatus): RomaExecutionStatus {
  return STATUS_TO_ROMA[status];
}

/** ROMA's status as ours: `CACHE_HIT` becomes `success` (ROMA's `success` property says so). */
export function fromRomaStatus(status: RomaExecutionStatus): BundleStatus {
  return STATUS_FROM_ROMA[status];
}

const KIND_TO_ROMA: Readonly<Record<FileKind, RomaArtifactType>> = {
  source: 'source_code',
  test: 'test',
  config: 'config',
  documentation: 'documentation',
  data: 'data',
};

export function toRomaArtifactType(kind: FileKind): RomaArtifactType {
  return KIND_TO_ROMA[kind];
}

export function fromRomaArtifactType(type: RomaArtifactType): FileKind {
  return type === 'source_code' ? 'source' : type;
}
