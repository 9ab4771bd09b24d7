/**
 * A deliberately dumb HTTP/1.1 client over a raw TCP socket, for tests that must see the wire:
 * exact chunk boundaries, requests without any default headers, malformed request lines.
 */
import { connect, type Socket } from 'node:net';

export interface ResponseHead {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
}

export interface RawResponse extends ResponseHead {
  body: Buffer;
  /** For chunked responses: each chunk's data, in order, without the terminating empty chunk. */
  chunks: Buffer[];
}

export class RawConnection {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, data]);
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.failure = err;
      this.notify();
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Sends a request with exactly the given headers (plus Host) and body. */
  request(
    method: string,
    target: string,
    headers: Record<string, string> = {},
    body?: string | Uint8Array,
  ): void {
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: test'];
    const all = { ...headers };
    if (body !== undefined && !Object.keys(all).some((h) => h.toLowerCase() === 'content-length')) {
      all['Content-Length'] = String(Buffer.byteLength(body));
    }
    for (const [name, value] of Object.entries(all)) lines.push(`${name}: ${value}`);
    this.send(`${lines.join('\r\n')}\r\n\r\n`);
    if (body !== undefined) this.send(body);
  }

  async readHead(): Promise<ResponseHead> {
    const head = (await this.readUntil('\r\n\r\n')).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
    if (!match) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    return { status: Number(match[1]), headers };
  }

  /** The next chunk's data, or undefined at the terminating chunk. */
  async readChunk(): Promise<Buffer | undefined> {
    const sizeLine = (await this.readUntil('\r\n')).toString('latin1');
    const size = Number.parseInt(sizeLine, 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${JSON.stringify(sizeLine)}`);
    if (size === 0) {
      await this.readUntil('\r\n');
      return undefined;
    }
    const data = await this.readExact(size);
    await this.readExact(2);
    return data;
  }

  async readResponse(options: { headOnly?: boolean } = {}): Promise<RawResponse> {
    const head = await this.readHead();
    const chunks: Buffer[] = [];
    let body: Buffer = Buffer.alloc(0);
    if (options.headOnly || head.status === 204 || head.status === 304) return { ...head, body, chunks };
    if (head.headers['transfer-encoding'] === 'chunked') {
      for (let chunk = await this.readChunk(); chunk; chunk = await this.readChunk()) chunks.push(chunk);
      body = Buffer.concat(chunks);
    } else if (head.headers['content-length'] !== undefined) {
      body = await this.readExact(Number(head.headers['content-length']));
    } else {
      body = await this.readToEnd();
    }
    return { ...head, body, chunks };
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.ended) await this.waitForData();
  }

  close(): void {
    this.socket.destroy();
  }

  private async readUntil(delimiter: string): Promise<Buffer> {
    for (;;) {
      const at = this.buffered.indexOf(delimiter, 0, 'latin1');
      if (at !== -1) return this.take(at + delimiter.length);
      await this.waitForData();
    }
  }

  private async readExact(length: number): Promise<Buffer> {
    while (this.buffered.length < length) await this.waitForData();
    return this.take(length);
  }

  private async readToEnd(): Promise<Buffer> {
    while (!this.ended) await this.waitForData();
    return this.take(this.buffered.length);
  }

  private take(length: number): Buffer {
    const out = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    return Buffer.from(out);
  }

  private waitForData(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** One request on a fresh connection; the connection is closed afterwards. */
export async function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body?: string | Uint8Array,
): Promise<RawResponse> {
  const connection = await RawConnection.open(port);
  try {
    connection.request(method, target, headers, body);
    return await connection.readResponse({ headOnly: method === 'HEAD' });
  } finally {
    connection.close();
  }
}
