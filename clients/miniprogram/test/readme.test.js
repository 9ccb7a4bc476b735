'use strict';
// The READMEs' mini-program pages work as written, run with this SDK and a wx whose
// requests reach real huihua servers (harness.js): the main README's example (section
// "Clients") logs in, sends and shows the session; clients/miniprogram/README.md's app
// (its client, app.js, the session list, the chat screen) streams, regenerates, stops,
// survives the background and resumes, reopens a reply being written, with auth and
// WeChat login on and on the quick start's server (no login, its devUserId).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const sdk = require('../huihua.js');
const {
  startFakeWeChat, startServer, startFakeModel, fakeWx, asBackend, waitFor,
} = require('./harness.js');

const README = path.join(__dirname, '..', '..', '..', 'README.md');
const SDK_README = path.join(__dirname, '..', 'README.md');
let wechat;
let model;
let server; // auth and WeChat login on
let open; // the quick start's: no login, auth off

before(async () => {
  [wechat, model] = await Promise.all([
    startFakeWeChat(),
    startFakeModel({ chunks: 100, delayMs: 20 }), // a reply of about 2 s
  ]);
  [server, open] = await Promise.all([
    startServer(wechat, model.env),
    startServer(null, model.env),
  ]);
});

after(async () => {
  delete globalThis.wx;
  await Promise.all([server, open].filter(Boolean).map((s) => s.stop()));
  await Promise.all([wechat, model].filter(Boolean).map((s) => s.stop()));
});

function example() {
  const clients = fs.readFileSync(README, 'utf8').split('\n## Clients\n')[1].split('\n## ')[0];
  const blocks = [...clients.matchAll(/```js\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1);
  return blocks[0][1];
}

/** A client's code set for the quick start's server `on`, with the options its comment gives. */
function forQuickStart(code, on) {
  const dev = code.match(/\/\/ createClient\((\{[^\n]*\})\)/)[1];
  assert.match(dev, /devUserId/);
  return code.replace("{ baseUrl: 'https://chat.example.com' }", dev.replace('http://127.0.0.1:8000', on.baseUrl));
}

test('the README page works on the quick start\'s server with the options its comment gives', async () => {
  const code = forQuickStart(example(), open);
  const wx = fakeWx();
  globalThis.wx = wx;
  let config;
  new Function('require', 'Page', code)(() => sdk, (c) => { config = c; });
  const page = {
    data: JSON.parse(JSON.stringify(config.data)),
    setData(changes) { Object.assign(this.data, changes); },
  };
  await config.onSend.call(page, { detail: { value: '你好' } });
  assert.deepEqual(page.data.chats.map((c) => [c.seq, c.role, c.msg]), [[1, 'user', '你好']]);
  assert.equal(wx.logins, 0);
});

test('the README page logs in, sends and shows the session', async () => {
  const code = example().replace('https://chat.example.com', server.baseUrl);
  const wx = fakeWx();
  globalThis.wx = wx; // as in a mini-program: the SDK finds the global wx
  let config;
  const requireFromPage = (name) => {
    assert.equal(name, './utils/huihua.js');
    return sdk;
  };
  new Function('require', 'Page', code)(requireFromPage, (c) => { config = c; });
  const page = {
    data: JSON.parse(JSON.stringify(config.data)),
    setData(changes) { Object.assign(this.data, changes); },
  };
  await config.onSend.call(page, { detail: { value: '帮我讲个笑话' } });
  await config.onSend.call(page, { detail: { value: '再来一个' } });
  assert.match(page.data.sessionId, /^[A-Za-z0-9_.:-]+$/);
  assert.deepEqual(page.data.chats.map((c) => [c.seq, c.role, c.msg]), [
    [1, 'user', '帮我讲个笑话'],
    [2, 'user', '再来一个'],
  ]);
  assert.equal(wx.logins, 1);
});

// -- clients/miniprogram/README.md -----------------------------------------------------------

/** The README's ```js blocks, by the file their first line names. */
function sdkReadmeFiles() {
  const text = fs.readFileSync(SDK_README, 'utf8');
  const files = {};
  for (const [, code] of text.matchAll(/```js\n([\s\S]*?)```/g)) {
    const name = code.match(/^\/\/ (\S+\.js)\n/)[1];
    files[name] = code;
  }
  assert.deepEqual(Object.keys(files).sort(),
    ['app.js', 'pages/chat/chat.js', 'pages/sessions/sessions.js', 'utils/huihua-client.js']);
  return files;
}

function setPath(data, key, value) {
  const parts = key.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  let at = data;
  for (const part of parts.slice(0, -1)) at = at[part];
  at[parts[parts.length - 1]] = value;
}

/**
 * The README's app on `on` with a fresh wx: its modules loaded as the mini-program would
 * (require relative to each file), App and Page capturing their configs; `page(name)`
 * makes an instance of a page with setData.
 */
function app(on, { quickStart = false, openid } = {}) {
  const files = sdkReadmeFiles();
  const wx = fakeWx({ openid });
  wx.navigations = [];
  wx.toasts = [];
  wx.navigateTo = ({ url }) => wx.navigations.push(url);
  wx.showToast = ({ title }) => wx.toasts.push(title);
  globalThis.wx = wx;
  if (quickStart) {
    files['utils/huihua-client.js'] = forQuickStart(files['utils/huihua-client.js'], on);
  } else {
    files['utils/huihua-client.js'] = files['utils/huihua-client.js']
      .replace('https://chat.example.com', on.baseUrl);
  }
  const modules = {};
  const configs = {};
  function load(name) {
    if (name === 'utils/huihua.js') return sdk;
    if (!(name in modules)) {
      const module = { exports: {} };
      modules[name] = module;
      const requireHere = (spec) => load(path.posix.join(path.posix.dirname(name), spec));
      new Function('require', 'module', 'exports', 'App', 'Page', 'wx', files[name])(
        requireHere, module, module.exports, (c) => { configs[name] = c; },
        (c) => { configs[name] = c; }, wx);
    }
    return modules[name].exports;
  }
  for (const name of Object.keys(files)) load(name);
  function page(name) {
    const config = configs[`pages/${name}/${name}.js`];
    const instance = Object.create(config);
    instance.data = JSON.parse(JSON.stringify(config.data));
    instance.setData = (changes) => {
      for (const [key, value] of Object.entries(changes)) setPath(instance.data, key, value);
    };
    return instance;
  }
  return { wx, app: configs['app.js'], page, client: load('utils/huihua-client.js') };
}

async function storedChats(on, userId, sessionId) {
  const page = await asBackend(on, '/query_session_info', { user_id: userId, session_id: sessionId });
  assert.equal(page.ok, 0, page.failed);
  return page.chats.map((c) => ({ status: 'complete', ...c }));
}

function shown(chat) {
  return chat.data.chats.map((c) => [c.seq, c.role, c.msg, c.status || 'complete']);
}

function asStored(chats) {
  return chats.map((c) => [c.seq, c.role, c.msg, c.status]);
}

async function send(chat, text) {
  chat.onInput({ detail: { value: text } });
  await chat.onSend();
}

function replyText(chat) {
  const last = chat.data.chats[chat.data.chats.length - 1];
  return last && last.role === 'ai' ? last.msg : '';
}

describe('clients/miniprogram/README.md', () => {
  test('login, the session list, a chat that streams, regenerate, reopen', async () => {
    const { wx, app: theApp, page } = app(server);
    theApp.onLaunch();
    await waitFor('logged in', () => wx.getStorageSync('huihua.auth') !== '');
    const list = page('sessions');
    await list.onShow();
    assert.deepEqual(list.data.sessions, []);
    list.onNew();
    const chat = page('chat');
    await chat.onLoad({});
    chat.onShow();
    await send(chat, '写一首秋天的诗');
    assert.equal(chat.data.replying, false);
    const sessionId = chat.data.sessionId;
    let stored = await storedChats(server, wx.openid, sessionId);
    assert.deepEqual(asStored(stored).map((c) => c.slice(0, 2)), [[1, 'user'], [2, 'ai']]);
    assert.ok(stored[1].msg.length > 100);
    assert.deepEqual(shown(chat), asStored(stored));
    await chat.onRegenerate();
    stored = await storedChats(server, wx.openid, sessionId);
    assert.deepEqual(asStored(stored).map((c) => c.slice(0, 2)), [[1, 'user'], [3, 'ai']]);
    assert.deepEqual(shown(chat), asStored(stored));
    await list.onShow();
    assert.deepEqual(list.data.sessions.map((s) => s.session_id), [sessionId]);
    list.onOpen({ currentTarget: { dataset: { id: sessionId } } });
    assert.deepEqual(wx.navigations, ['/pages/chat/chat', `/pages/chat/chat?session_id=${sessionId}`]);
    const again = page('chat');
    await again.onLoad({ session_id: sessionId });
    assert.deepEqual(shown(again), asStored(stored));
    assert.equal(wx.logins, 1);
    assert.deepEqual(wx.toasts, []);
  });

  test('the background: the stream is cut, onShow reads the whole reply', async () => {
    const { wx, page } = app(server);
    const chat = page('chat');
    await chat.onLoad({});
    const sending = send(chat, '写一首长诗');
    await waitFor('the reply streams', () => replyText(chat).length > 10);
    wx.hide(); // the user switched away: WeChat fails the request, "interrupted"
    let seen;
    try {
      seen = replyText(chat);
      await waitFor('the reply finished', async () => {
        const stored = await storedChats(server, wx.openid, chat.data.sessionId);
        return stored.length === 2 && stored[1].status === 'complete';
      });
      assert.equal(replyText(chat), seen); // nothing read while away
    } finally {
      wx.show();
    }
    chat.onShow();
    await sending;
    const stored = await storedChats(server, wx.openid, chat.data.sessionId);
    assert.deepEqual(shown(chat), asStored(stored));
    assert.ok(stored[1].msg.length > seen.length);
  });

  test('stop: the reply keeps its text, cancelled', async () => {
    const { wx, page } = app(server);
    const chat = page('chat');
    await chat.onLoad({});
    const sending = send(chat, '写一首很长的诗');
    await waitFor('the reply streams', () => replyText(chat).length > 0);
    await chat.onStop();
    await sending;
    const stored = await storedChats(server, wx.openid, chat.data.sessionId);
    assert.equal(stored[1].status, 'cancelled');
    assert.deepEqual(shown(chat), asStored(stored));
    assert.equal(chat.data.replying, false);
  });

  test('a chat reopened while its reply is written follows it to its end', async () => {
    const { wx, page } = app(server);
    const first = page('chat');
    await first.onLoad({});
    const sending = send(first, '写一首诗');
    await waitFor('the reply streams', () => replyText(first).length > 0);
    const reopened = page('chat');
    await reopened.onLoad({ session_id: first.data.sessionId });
    await sending;
    const stored = await storedChats(server, wx.openid, first.data.sessionId);
    assert.deepEqual(shown(reopened), asStored(stored));
    assert.deepEqual(shown(first), asStored(stored));
  });

  test('on the quick start\'s server, with the client\'s devUserId', async () => {
    const { wx, page, client } = app(open, { quickStart: true });
    const chat = page('chat');
    await chat.onLoad({});
    await send(chat, '你好');
    const stored = await storedChats(open, 'dev-user-1', chat.data.sessionId);
    assert.deepEqual(shown(chat), asStored(stored));
    assert.equal(wx.logins, 0);
    assert.deepEqual(wx.toasts, []);
    assert.equal(typeof client.askAi, 'function');
  });

  test('on the quick start\'s server without devUserId, the error says what to do', async () => {
    const { wx, page, client } = app(open);
    const chat = page('chat');
    await chat.onLoad({});
    await send(chat, '你好');
    assert.deepEqual(wx.toasts, ['发送失败']);
    await assert.rejects(client.querySessionNames({}), /no \/login.*devUserId/s);
  });
});
