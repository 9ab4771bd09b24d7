import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpProbe, localCommandProbe, tcpProbe } from '../../../src/executors/health/probes.js';

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** A port nobody listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const never = () => new AbortController().signal;

describe('HTTP probe', () => {
  let server: Server;
  let port = 0;
  const hits: string[] = [];

  before(async () => {
    server = createHttpServer((request, response) => {
      hits.push(request.url ?? '');
      const url = request.url ?? '';
      if (url === '/ok') response.writeHead(200).end('fine');
      else if (url === '/redirect') response.writeHead(302, { Location: '/ok' }).end();
      else if (url === '/loop') response.writeHead(301, { Location: '/loop' }).end();
      else if (url === '/down') response.writeHead(503).end('down');
      else if (url === '/slow') setTimeout(() => response.writeHead(200).end(), 5_000).unref();
      else response.writeHead(404).end();
    });
    port = await listen(server);
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('GETs the path and reports the status code', async () => {
    assert.deepEqual(await httpProbe(`http://127.0.0.1:${port}/ok`)(never()), {
      kind: 'http',
      statusCode: 200,
    });
    assert.deepEqual(await httpProbe(`http://127.0.0.1:${port}/down`)(never()), {
      kind: 'http',
      statusCode: 503,
    });
  });

  it('follows redirects like curl -L, and gives up after 50', async () => {
    assert.deepEqual(await httpProbe(`http://127.0.0.1:${port}/redirect`)(never()), {
      kind: 'http',
      statusCode: 200,
    });
    const before = hits.filter((h) => h === '/loop').length;
    const outcome = await httpProbe(`http://127.0.0.1:${port}/loop`)(never());
    assert.deepEqual(outcome, { kind: 'error', message: 'Maximum (50) redirects followed' });
    assert.equal(hits.filter((h) => h === '/loop').length - before, 51);
  });

  it('is an error when nothing answers', async () => {
    const outcome = await httpProbe(`http://127.0.0.1:${await closedPort()}/`)(never());
    assert.equal(outcome.kind, 'error');
    assert.match(outcome.kind === 'error' ? outcome.message : '', /ECONNREFUSED/);
  });

  it('an abort ends a request that hangs', async () => {
    const controller = new AbortController();
    const pending = httpProbe(`http://127.0.0.1:${port}/slow`)(controller.signal);
    await sleep(50);
    controller.abort();
    const outcome = await pending;
    assert.equal(outcome.kind, 'error');
  });
});

describe('TCP probe', () => {
  it('succeeds when something listens and fails when nothing does', async () => {
    const server = createTcpServer((socket) => socket.end());
    const port = await listen(server);
    try {
      assert.deepEqual(await tcpProbe('127.0.0.1', port)(never()), { kind: 'tcp', succeeded: true });
    } finally {
      server.close();
    }
    assert.deepEqual(await tcpProbe('127.0.0.1', await closedPort())(never()), {
      kind: 'tcp',
      succeeded: false,
    });
  });
});

describe('local command probe', () => {
  const run = (command: string, signal = never(), env: Record<string, string> = {}) =>
    localCommandProbe({
      spec: {
        file: '/bin/sh',
        argv0: 'sh',
        args: ['-c', command],
        env: { PATH: '/usr/bin:/bin', ...env },
        switchToUser: undefined,
      },
      user: undefined,
      cwd: tmpdir(),
      stdio: 'ignore',
    })(signal);

  it('reports the exit code, in the given environment and directory', async () => {
    assert.deepEqual(await run('exit 0'), { kind: 'command', exitCode: 0 });
    assert.deepEqual(await run('exit 7'), { kind: 'command', exitCode: 7 });
    assert.deepEqual(
      await run('test "$CHECK_VAR" = yes && test "$(pwd)" = "$EXPECTED"', never(), {
        CHECK_VAR: 'yes',
        EXPECTED: tmpdir(),
      }),
      { kind: 'command', exitCode: 0 },
    );
  });

  it('a death by signal is an error', async () => {
    assert.deepEqual(await run('kill -9 $$'), {
      kind: 'error',
      message: 'Command terminated with signal Killed',
    });
  });

  it('an abort SIGKILLs the whole tree of the command', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = run('sleep 30 & sleep 30; wait', controller.signal);
    await sleep(100);
    controller.abort();
    const outcome = await pending;
    assert.equal(outcome.kind, 'error');
    assert.ok(Date.now() - started < 5_000);
  });

  it('a program that does not exist is an error', async () => {
    const outcome = await localCommandProbe({
      spec: { file: '/nonexistent/program', argv0: 'x', args: [], env: {}, switchToUser: undefined },
      user: undefined,
      cwd: tmpdir(),
      stdio: 'ignore',
    })(never());
    assert.equal(outcome.kind, 'error');
    assert.match(outcome.kind === 'error' ? outcome.message : '', /ENOENT/);
  });
});
