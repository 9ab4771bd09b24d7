/**
 * A client of an agent's operator API (`/api/v1` with `agent.Call`) for tests: one call in JSON,
 * the raw answer back (status, text, bytes) for the test to decode or match.
 */
import { request } from 'node:http';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { codec } from '../../src/wire/codec.js';
import { CallSchema } from '../../src/wire/gen/mesos/v1/agent/agent_pb.js';

const JSON_TYPE = 'application/json';

export interface AgentAnswer {
  status: number;
  text: string;
  bytes: Buffer;
}

/** POSTs `init` to `<agentUrl>/api/v1` as JSON. */
export function agentCall(agentUrl: string, init: MessageInitShape<typeof CallSchema>): Promise<AgentAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${agentUrl}/api/v1`,
      { method: 'POST', headers: { 'Content-Type': JSON_TYPE, Accept: JSON_TYPE } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, text: bytes.toString('utf8'), bytes });
        });
      },
    );
    req.on('error', reject);
    req.end(codec.encode(CallSchema, create(CallSchema, init), JSON_TYPE));
  });
}
