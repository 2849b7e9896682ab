// RELIABILITY.md B3, HTTP framing and paths: every item gets a 4xx or a closed connection, and the server still
// answers the next request. Also the B2 HTTP limits, each hit once (sizes configured in src/base/limits.h).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { assertAlive, copyFixture, rawExchange, startDpd, statusOf } from './harness.mjs';

const H = 'Host: x\r\n';

describe('HTTP bad input', () => {
  let server;
  before(async () => { server = await startDpd(copyFixture('basic')); });
  after(async () => { assert.equal(await server.stop(), 0); });

  // [name, bytes to send, allowed statuses (0 = closed without a response)]
  const cases = [
    ['request line of 100 KB', `GET /${'a'.repeat(100 * 1024)} HTTP/1.1\r\n${H}\r\n`, [414]],
    ['request line just over 8 KiB', `GET /${'a'.repeat(8 * 1024)} HTTP/1.1\r\n${H}\r\n`, [414]],
    ['query string over 8 KiB', `GET /?${'a'.repeat(8 * 1024 + 10)} HTTP/1.1\r\n${H}\r\n`, [414]],
    ['single header of 1 MB', `GET / HTTP/1.1\r\n${H}X-Big: ${'b'.repeat(1024 * 1024)}\r\n\r\n`, [431]],
    ['header bytes over 32 KiB', `GET / HTTP/1.1\r\n${H}${'X-A: '.concat('c'.repeat(1000), '\r\n').repeat(40)}\r\n`, [431]],
    ['10,000 headers', `GET / HTTP/1.1\r\n${H}${'X-N: 1\r\n'.repeat(10000)}\r\n`, [431]],
    ['101 headers', `GET / HTTP/1.1\r\n${H}${'X-N: 1\r\n'.repeat(100)}\r\n`, [431]],
    ['header with NUL', `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, [400]],
    ['header with bare CR', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, [400]],
    ['obsolete line folding', `GET / HTTP/1.1\r\n${H}X-A: a\r\n  folded\r\n\r\n`, [200, 400]],
    ['two different Content-Length', `POST /todos HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, [400]],
    ['Content-Length + chunked (smuggling)', `POST /todos HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, [400]],
    ['negative Content-Length', `POST /todos HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, [400]],
    ['non-numeric Content-Length', `POST /todos HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, [400]],
    ['huge chunk size', `POST /todos HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n`, [400, 413]],
    ['chunk extension of 64 KB', `POST /todos HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(64 * 1024)}\r\na\r\n0\r\n\r\n`, [400, 413, 431, 0]],  // 400: body "a" is not JSON
    ['1 MB of trailers', `POST /todos HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: ${'t'.repeat(1024 * 1024)}\r\n\r\n`, [400, 413, 431, 0]],
    ['Expect 100-continue with 10 GB', `POST /todos HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 10737418240\r\n\r\n`, [413]],
    ['body over 1 MiB', `POST /todos HTTP/1.1\r\n${H}Content-Length: ${1024 * 1024 + 1}\r\n\r\n`, [413]],
    ['chunked body over 1 MiB', `POST /todos HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${'100000\r\n'.concat('x'.repeat(0x100000), '\r\n')}1\r\nx\r\n0\r\n\r\n`, [413]],
    ['method GETT', `GETT / HTTP/1.1\r\n${H}\r\n`, [400]],
    ['lowercase get', `get / HTTP/1.1\r\n${H}\r\n`, [400]],
    ['1 KB method', `${'G'.repeat(1024)} / HTTP/1.1\r\n${H}\r\n`, [400]],
    ['HTTP/0.9 request line', 'GET /\r\n\r\n', [400, 0]],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 0]],
    ['target without slash', `GET index.html HTTP/1.1\r\n${H}\r\n`, [400]],
    ['garbage bytes', '\x00\x01\x02\xff\xfe garbage\r\n\r\n', [400, 0]],
    ['64 KB path', `GET /${'p/'.repeat(32 * 1024)} HTTP/1.1\r\n${H}\r\n`, [414]],
    ['path //users///', `GET //users/// HTTP/1.1\r\n${H}\r\n`, [404]],
    ['path /users/../__resources', `GET /users/../__resources HTTP/1.1\r\n${H}\r\n`, [404]],
    ['absolute-form target', `GET http://evil.example/nothing HTTP/1.1\r\n${H}\r\n`, [404]],
  ];

  for (const [name, bytes, allowed] of cases) {
    test(name, async () => {
      const { data, closed } = await rawExchange(server.port, bytes + 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: 3000 });
      const status = statusOf(data);
      assert.ok(allowed.includes(status), `got ${status}: ${data.slice(0, 200)}`);
      // framing errors answer in Deployd's error shape and close the connection
      const framing = [408, 413, 414, 431].includes(status) || data.includes('{"message":"Bad Request","status":400}');
      if (framing) {
        assert.ok(closed, 'an error at the framing level closes the connection');
        assert.match(data, /Content-Type: application\/json\r\n/);
        assert.match(data, /\{"message":"[^"]+","status":\d{3}\}/);
      }
      await assertAlive(server);
    });
  }

  test('CL larger than the bytes sent, then FIN', async () => {
    const { data, closed } = await rawExchange(server.port, [`POST /todos HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nshort`]);
    assert.ok(closed || data === '');
    await assertAlive(server);
  });

  test('10,000 pipelined requests are all answered, in order, without unbounded buffering', async () => {
    const n = 10000;
    const { data } = await rawExchange(server.port, `GET /__health HTTP/1.1\r\n${H}\r\n`.repeat(n), { idleMs: 3000 });
    assert.equal([...data.matchAll(/HTTP\/1\.1 200 /g)].length, n);
    await assertAlive(server);
  });
});

describe('deadlines', () => {
  test('slowloris: a header that never completes is closed at the header deadline', async () => {
    // the header deadline is configurable; a short one keeps the test quick
    const server = await startDpd(copyFixture('basic'), ['--limit', 'http.header_deadline_ms=800', '--limit', 'http.body_deadline_ms=1500', '--limit', 'http.body_rate_grace_ms=1000']);
    try {
      const start = Date.now();
      const { closed } = await rawExchange(server.port, ['GET / HTTP/1.1\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n'],
        { idleMs: 5000, delayMs: 200 });
      assert.ok(closed);
      const took = Date.now() - start;
      assert.ok(took < 4000, `closed after ${took} ms`);
      // a slow body gets 408 and a close
      const slow = await rawExchange(server.port, [`POST /todos HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n`, 'a'],
        { idleMs: 5000, delayMs: 100 });
      assert.equal(statusOf(slow.data), 408);
      assert.ok(slow.closed);
      await assertAlive(server);
    } finally {
      await server.stop();
    }
  });

  test('connections per IP are capped: the extra one is refused, the others work', async () => {
    const server = await startDpd(copyFixture('basic'), ['--limit', 'http.connections_per_ip=4']);
    const socks = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = net.connect(server.port, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((r) => s.on('connect', r));
        socks.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      const extra = await rawExchange(server.port, `GET /__health HTTP/1.1\r\n${H}\r\n`);
      assert.equal(statusOf(extra.data), 0);
      assert.ok(extra.closed);
      socks.pop().destroy();
      await new Promise((r) => setTimeout(r, 100));
      const ok = await rawExchange(server.port, `GET /__health HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.equal(statusOf(ok.data), 200);
    } finally {
      socks.forEach((s) => s.destroy());
      await server.stop();
    }
  });
});
