'use strict';
// The mini-program SDK against a real huihua server with auth on (see harness.js).
// Run: node --test clients/miniprogram/test/

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const { createClient, HuihuaError, ENDPOINTS } = require('../huihua.js');
const { startFakeWeChat, startServer, fakeWx, asBackend } = require('./harness.js');

let wechat;
let server;

before(async () => {
  wechat = await startFakeWeChat();
  server = await startServer(wechat);
});

after(async () => {
  if (server) await server.stop();
  if (wechat) await wechat.stop();
});

function client(wx, options = {}) {
  return createClient({ baseUrl: server.baseUrl, wx, backoffMs: 20, ...options });
}

function requestIds(wx, path) {
  return wx.sent.filter((r) => r.path === path).map((r) => r.data.request_id);
}

describe('login', () => {
  test('keeps the token and its expiry in storage, and a new client reuses them', async () => {
    const wx = fakeWx();
    const reply = await client(wx).login();
    assert.equal(reply.user_id, wx.openid);
    assert.equal(reply.created, true);
    const stored = wx.getStorageSync('huihua.auth');
    assert.equal(stored.token, reply.token);
    assert.equal(stored.expires_at, reply.expires_at);
    assert.ok(Date.parse(stored.expires_at) > Date.now());
    const again = client(wx); // a page opened later: same storage, no new login
    const names = await again.querySessionNames({});
    assert.deepEqual(names.sessions, []);
    assert.equal(wx.logins, 1);
    assert.equal(again.userId(), wx.openid);
  });

  test('the first call logs in by itself; concurrent calls share one login', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    const [a, b] = await Promise.all([
      sdk.addChat({ session_id: 's1', role: 'user', msg: 'one' }),
      sdk.querySessionNames({}),
    ]);
    assert.equal(a.seq, 1);
    assert.ok(Array.isArray(b.sessions));
    assert.equal(wx.logins, 1);
  });

  test('a call answered ok 3 logs in again, once, and is sent again', async () => {
    const wx = fakeWx();
    const far = new Date(Date.now() + 86400e3).toISOString();
    wx.setStorageSync('huihua.auth', { token: 'not-a-token', expires_at: far, user_id: 'x' });
    const reply = await client(wx).querySessionNames({});
    assert.equal(reply.ok, 0);
    assert.equal(wx.logins, 1);
    const statuses = wx.sent.filter((r) => r.path === '/query_session_names').map((r) => r.statusCode);
    assert.deepEqual(statuses, [401, 200]);
  });

  test('a token that dies with its user: the next call logs the same WeChat user in anew', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.addChat({ role: 'user', msg: 'before' });
    await sdk.deleteUser({});
    const names = await sdk.querySessionNames({});
    assert.deepEqual(names.sessions, []);
    assert.equal(wx.logins, 2);
  });

  test('a refused code rejects with ok 3 and keeps no token', async () => {
    const wx = fakeWx();
    wx.codes.push('bad-code');
    await assert.rejects(client(wx).login(), (err) => {
      assert.ok(err instanceof HuihuaError);
      assert.equal(err.ok, 3);
      assert.equal(err.statusCode, 401);
      return true;
    });
    assert.equal(wx.getStorageSync('huihua.auth'), '');
  });

  test('a lost login reply is sent again with the same code, and WeChat is asked once', async () => {
    const wx = fakeWx();
    wx.dropReplies(1, '/login');
    const reply = await client(wx).login();
    assert.equal(reply.user_id, wx.openid);
    const logins = wx.sent.filter((r) => r.path === '/login');
    assert.equal(logins.length, 2);
    assert.equal(logins[0].data.code, logins[1].data.code);
    assert.equal(wechat.calls.filter((c) => c === logins[0].data.code).length, 1);
  });
});

describe('retries', () => {
  test('a reply lost after the write: sent again with the same request_id, written once', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.login();
    wx.dropReplies(2, '/add_chat');
    const reply = await sdk.addChat({ session_id: 'lost', role: 'user', msg: '帮我讲个笑话' });
    assert.equal(reply.seq, 1);
    const sent = wx.sent.filter((r) => r.path === '/add_chat');
    assert.deepEqual(sent.map((r) => [r.statusCode, r.dropped]), [[200, true], [200, true], [200, false]]);
    assert.equal(new Set(requestIds(wx, '/add_chat')).size, 1);
    const info = await sdk.querySessionInfo({ session_id: 'lost' });
    assert.deepEqual(info.chats.map((c) => c.msg), ['帮我讲个笑话']);
  });

  test('ok 8 and a proxy\'s 502 page: sent again with the same request_id, written once', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.login();
    wx.replaceReplies(1, '/add_chat', {
      statusCode: 503,
      data: { request_id: 'x', ok: 8, failed: 'storage unavailable' },
    });
    wx.replaceReplies(1, '/add_chat', { statusCode: 502, data: '<html>Bad Gateway</html>' });
    const reply = await sdk.addChat({ session_id: 's8', role: 'user', msg: 'once' });
    assert.equal(reply.seq, 1);
    const sent = wx.sent.filter((r) => r.path === '/add_chat');
    assert.deepEqual(sent.map((r) => r.statusCode), [503, 502, 200]);
    assert.equal(new Set(requestIds(wx, '/add_chat')).size, 1);
    const info = await sdk.querySessionInfo({ session_id: 's8' });
    assert.deepEqual(info.chats.map((c) => c.msg), ['once']);
  });

  test('each call gets its own request_id unless it brings one', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.addChat({ session_id: 'ids', role: 'user', msg: 'a' });
    await sdk.addChat({ session_id: 'ids', role: 'user', msg: 'b' });
    await sdk.addChat({ session_id: 'ids', role: 'user', msg: 'c', request_id: 'mine-1' });
    const ids = requestIds(wx, '/add_chat');
    assert.equal(new Set(ids).size, 3);
    assert.equal(ids[2], 'mine-1');
  });

  test('a deleteUser whose reply is lost: the user is gone, the token dropped', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.addChat({ role: 'user', msg: 'to be deleted' });
    wx.dropReplies(1, '/delete_user');
    const reply = await sdk.deleteUser({});
    assert.equal(reply.ok, 0);
    // the retry's token died with its user (401): logged in anew, that user deleted too
    const sent = wx.sent.filter((r) => r.path === '/delete_user');
    assert.deepEqual(sent.map((r) => r.statusCode), [200, 401, 200]);
    const gone = await asBackend(server, '/query_user_info', { user_id: wx.openid });
    assert.equal(gone.ok, 2);
    assert.equal(wx.getStorageSync('huihua.auth'), '');
  });

  test('no credential, auth on: ok 3 without a login when autoLogin is off', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: server.baseUrl, wx, autoLogin: false });
    await assert.rejects(sdk.deleteUser({ user_id: 'nobody' }), (err) => err.ok === 3);
    assert.equal(wx.logins, 0);
  });

  test('an invalid call rejects at once with ok, failed, statusCode and requestId', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await assert.rejects(sdk.addChat({ role: 'user', msg: 'x', session_id: 'bad id!' }), (err) => {
      assert.ok(err instanceof HuihuaError);
      assert.equal(err.ok, 1);
      assert.equal(err.statusCode, 400);
      assert.match(err.failed, /session_id/);
      assert.match(err.requestId, /^mp-/);
      return true;
    });
    assert.equal(wx.sent.filter((r) => r.path === '/add_chat').length, 1);
  });

  test('a server that never answers: rejected with ok null after the retries', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: 'http://127.0.0.1:9', wx, backoffMs: 5, retries: 2, autoLogin: false });
    await assert.rejects(sdk.querySessionNames({ user_id: 'u' }), (err) => {
      assert.equal(err.ok, null);
      assert.equal(err.statusCode, 0);
      return true;
    });
    assert.equal(wx.sent.length, 3);
  });
});

describe('rate limited', () => {
  let limited;
  before(async () => {
    limited = await startServer(wechat, { HUIHUA_RATE_LIMIT_USER: '60' });
  });
  after(async () => {
    if (limited) await limited.stop();
  });

  test('ok 7 waits for Retry-After and sends again with the same request_id', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: limited.baseUrl, wx, backoffMs: 20 });
    await sdk.login();
    // spend the user's burst (60 a minute), then write once more
    for (let i = 0; i < 80; i++) {
      const answered = await fetch(`${limited.baseUrl}/query_session_names`, {
        method: 'POST',
        headers: { authorization: `Bearer ${wx.getStorageSync('huihua.auth').token}` },
        body: '{}',
      });
      if (answered.status === 429) break;
    }
    const reply = await sdk.addChat({ session_id: 'busy', role: 'user', msg: 'hello' });
    assert.equal(reply.seq, 1);
    const sent = wx.sent.filter((r) => r.path === '/add_chat');
    assert.equal(sent[0].statusCode, 429);
    assert.equal(sent.at(-1).statusCode, 200);
    assert.equal(new Set(sent.map((r) => r.data.request_id)).size, 1);
  });
});

describe('auth off (a server on loopback for development)', () => {
  let open;
  before(async () => {
    open = await startServer(wechat, { HUIHUA_SERVICE_KEY: '', HUIHUA_TOKEN_SECRET: '' });
  });
  after(async () => {
    if (open) await open.stop();
  });

  test('a retried deleteUser that answers ok 2 is done; a first one is ok 2', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: open.baseUrl, wx, autoLogin: false, backoffMs: 20 });
    await sdk.addUser({ user_id: 'u-del', user_name: 'x' });
    await sdk.addChat({ user_id: 'u-del', role: 'ai', msg: 'hi' });
    wx.dropReplies(1, '/delete_user');
    const reply = await sdk.deleteUser({ user_id: 'u-del' });
    assert.equal(reply.ok, 0);
    const sent = wx.sent.filter((r) => r.path === '/delete_user');
    assert.deepEqual(sent.map((r) => r.statusCode), [200, 404]);
    await assert.rejects(sdk.deleteUser({ user_id: 'u-del' }), (err) => err.ok === 2);
  });
});

describe('iterators', () => {
  test('sessions() follows the cursor, most recently active first', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      await sdk.addChat({ session_id: id, role: 'user', msg: `in ${id}` });
    }
    const seen = [];
    for await (const s of sdk.sessions({ limit: 2 })) seen.push(s.session_id);
    assert.deepEqual(seen, ['e', 'd', 'c', 'b', 'a']);
    assert.equal(wx.sent.filter((r) => r.path === '/query_session_names').length, 3);
  });

  test('messages() gives the newest first and scrolls back', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    for (let i = 1; i <= 7; i++) {
      await sdk.addChat({ session_id: 'long', role: 'user', msg: `m${i}` });
    }
    const seen = [];
    for await (const m of sdk.messages({ session_id: 'long', limit: 3 })) seen.push(m.seq);
    assert.deepEqual(seen, [7, 6, 5, 4, 3, 2, 1]);
    const pages = wx.sent.filter((r) => r.path === '/query_session_info').map((r) => r.data.before_seq);
    assert.deepEqual(pages, [undefined, 5, 2]);
  });

  test('breaking out of messages() reads no further page', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    for (let i = 1; i <= 4; i++) await sdk.addChat({ session_id: 'brk', role: 'user', msg: `m${i}` });
    for await (const m of sdk.messages({ session_id: 'brk', limit: 2 })) {
      if (m.seq === 4) break;
    }
    assert.equal(wx.sent.filter((r) => r.path === '/query_session_info').length, 1);
  });
});

test('a method per endpoint of the contract, named in camelCase', () => {
  const sdk = createClient({ baseUrl: 'http://127.0.0.1:9', wx: fakeWx() });
  for (const [name, path] of Object.entries(ENDPOINTS)) {
    const camel = path.slice(1).replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    assert.equal(name, camel);
    assert.equal(typeof sdk[name], 'function');
  }
  for (const name of ['addChat', 'addChats', 'updateChat', 'deleteChat', 'querySessionInfo',
    'searchChats', 'renameSession', 'pinSession', 'rateChat', 'exportUserData', 'deleteUser']) {
    assert.equal(typeof sdk[name], 'function', name);
  }
});
