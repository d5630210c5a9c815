/** The JSON shapes the locker answers with (docs/services.md, `/openapi.json`). */
import { StorageError, type EvidenceRecord } from '../../storage/types.js';

/** The stored receipt as a JSON object (the DSSE envelope the scanner verifies). */
export function receiptOf(record: EvidenceRecord): unknown {
  return parseStored(record.receipt, record.sha256, 'receipt');
}

/** One evidence record as the API shows it. */
export function evidenceView(record: EvidenceRecord, options: { withEnvelope: boolean }): Record<string, unknown> {
  return {
    sha256: record.sha256,
    scanId: record.scanId,
    scannerId: record.scannerId,
    service: record.serviceId,
    payloadType: record.payloadType,
    receivedAt: record.receivedAt,
    hops: record.hops,
    ...(options.withEnvelope ? { envelope: parseStored(Buffer.from(record.envelope).toString('utf8'), record.sha256, 'envelope') } : {}),
    receipt: receiptOf(record),
  };
}

function parseStored(text: string, sha256: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new StorageError('storage-corrupt', `stored ${what} of ${sha256} is not JSON`, { cause: error });
  }
}
