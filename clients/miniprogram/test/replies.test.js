'use strict';
// Replies a model gives (docs/api.md §8) read by the SDK: askAi, followReply, stopReply, resume,
// against real huihua servers asking the fake model of tests/fake_model.py (harness.js).
// In every case the text the page shows (its handlers applied) equals the stored reply.

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const { createClient, HuihuaError } = require('../huihua.js');
const {
  startFakeWeChat, startServer, startFakeModel, fakeWx, asBackend, waitFor,
} = require('./harness.js');

let wechat;
let fastModel; // 40 pieces at once: a reply in a moment
let slowModel; // 150 pieces 25 ms apart: a reply of about 4 s, to stop, hide and cut
let server; // auth on, the fast model
let slow; // auth on, the slow model

before(async () => {
  [wechat, fastModel, slowModel] = await Promise.all([
    startFakeWeChat(),
    startFakeModel({ chunks: 40, delayMs: 0 }),
    startFakeModel({ chunks: 150, delayMs: 25 }),
  ]);
  [server, slow] = await Promise.all([
    startServer(wechat, fastModel.env),
    startServer(wechat, slowModel.env),
  ]);
});

after(async () => {
  await Promise.all([server, slow].filter(Boolean).map((s) => s.stop()));
  await Promise.all([wechat, fastModel, slowModel].filter(Boolean).map((s) => s.stop()));
});

function client(wx, on = server, options = {}) {
  return createClient({ baseUrl: on.baseUrl, wx, backoffMs: 20, ...options });
}

/** A chat screen's reply bubble: what the handlers show, and what they were given. */
function screen(extra = {}) {
  const shown = { msg: '', reasoning: '', starts: [], deltas: [], dones: [] };
  shown.handlers = {
    onStart(start) { shown.starts.push(start); if (extra.onStart) extra.onStart(start); },
    onDelta(delta) {
      shown.deltas.push(delta);
      if (delta.replace) {
        shown.msg = delta.msg || '';
        shown.reasoning = delta.reasoning || '';
      } else {
        shown.msg += delta.msg || '';
        shown.reasoning += delta.reasoning || '';
      }
      if (extra.onDelta) extra.onDelta(delta);
    },
    onDone(done) {
      shown.dones.push(done);
      if (typeof done.msg === 'string') shown.msg = done.msg;
    },
  };
  return shown;
}

/** The stored reply, as the app's back end reads it. */
async function stored(on, userId, sessionId, seq) {
  const page = await asBackend(on, '/query_session_info', { user_id: userId, session_id: sessionId });
  assert.equal(page.ok, 0, page.failed);
  const chat = page.chats.find((c) => c.seq === seq);
  return chat && { status: 'complete', ...chat }; // a field at its default is left out
}

function sentTo(wx, path) {
  return wx.sent.filter((r) => r.path === path);
}

describe('streaming', () => {
  test('askAi streams the reply in pieces of 1-7 bytes and resolves to the stored reply', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    const shown = screen();
    const reply = await sdk.askAi({ session_id: 'poem', msg: '写一首秋天的诗' }, shown.handlers);
    assert.equal(reply.status, 'complete');
    assert.deepEqual(reply.seqs, [1, 2]);
    assert.equal(reply.seq, 2);
    assert.equal(reply.meta.model, 'fake-chat');
    assert.equal(shown.starts.length, 1);
    assert.equal(shown.dones.length, 1);
    assert.ok(shown.deltas.length > 1);
    const chat = await stored(server, wx.openid, 'poem', 2);
    assert.equal(chat.status, 'complete');
    assert.ok(chat.msg.length > 40);
    assert.equal(shown.msg, chat.msg);
    assert.equal(reply.msg, chat.msg);
    assert.ok(wx.splits > 10, `characters split across pieces: ${wx.splits}`);
    assert.equal(sentTo(wx, '/ask_ai').length, 1);
    assert.ok(sentTo(wx, '/ask_ai')[0].chunked);
  });

  test('a stream cut mid-reply (timeout, network change) is followed from the last event id', async () => {
    const wx = fakeWx();
    const sdk = client(wx, slow);
    await sdk.login();
    wx.cutStream('/ask_ai', 400, 'request:fail timeout');
    wx.cutStream('/follow_reply', 333, 'request:fail network changed');
    const shown = screen();
    const reply = await sdk.askAi({ session_id: 'cut', msg: '讲个故事' }, shown.handlers);
    assert.equal(reply.status, 'complete');
    const follows = sentTo(wx, '/follow_reply');
    assert.ok(follows.length >= 2, `follows: ${follows.length}`);
    assert.ok(follows[0].data.after > 1, `after ${follows[0].data.after}`);
    assert.ok(follows[1].data.after > follows[0].data.after);
    const ask = sentTo(wx, '/ask_ai')[0].data;
    for (const f of follows) {
      assert.equal(f.data.request_id, ask.request_id);
      assert.equal(f.data.seq, 2);
    }
    assert.equal(shown.starts.length, 1);
    assert.equal(shown.dones.length, 1);
    const chat = await stored(slow, wx.openid, 'cut', 2);
    assert.equal(shown.msg, chat.msg);
  });

  test('a stream cut inside its start: the ask is sent again, the model asked once', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await sdk.login();
    wx.cutStream('/ask_ai', 20, 'request:fail timeout');
    const shown = screen();
    const reply = await sdk.askAi({ session_id: 'again', msg: '你好' }, shown.handlers);
    const asks = sentTo(wx, '/ask_ai');
    assert.equal(asks.length, 2);
    assert.equal(asks[0].data.request_id, asks[1].data.request_id);
    const page = await asBackend(server, '/query_session_info', { user_id: wx.openid, session_id: 'again' });
    assert.deepEqual(page.chats.map((c) => [c.seq, c.role]), [[1, 'user'], [2, 'ai']]);
    assert.equal(shown.msg, page.chats[1].msg);
    assert.equal(reply.msg, page.chats[1].msg);
  });

  test('a page in the background gets the whole reply on resume() from onShow', async () => {
    const wx = fakeWx();
    const sdk = client(wx, slow);
    let lastBeforeHiding = 0;
    const shown = screen({
      onDelta() {
        if (!wx.hidden && !lastBeforeHiding && shown.deltas.length === 3) {
          wx.hide(); // the user switched away: the request fails "interrupted"
          lastBeforeHiding = -1;
        }
      },
    });
    const asked = sdk.askAi({ session_id: 'bg', msg: '写一首长诗' }, shown.handlers);
    try {
      await waitFor('hidden', () => wx.hidden);
      const seen = shown.deltas.length;
      // The reply is generated to its end while nobody listens.
      await waitFor('the reply finished', async () => {
        const chat = await stored(slow, wx.openid, 'bg', 2);
        return chat && chat.status === 'complete';
      });
      assert.equal(shown.deltas.length, seen); // nothing read while hidden
    } finally {
      wx.show();
    }
    const page = { onShow() { sdk.resume(); } }; // the page's onShow, as the README's
    page.onShow();
    const reply = await asked;
    assert.equal(reply.status, 'complete');
    const chat = await stored(slow, wx.openid, 'bg', 2);
    assert.equal(shown.msg, chat.msg);
    const follows = sentTo(wx, '/follow_reply').filter((r) => r.statusCode === 200);
    assert.equal(follows.length, 1);
    assert.ok(follows[0].data.after >= 4);
  });

  test('a broken token mid-stream: the follow logs in again and reads on', async () => {
    const wx = fakeWx();
    const sdk = client(wx, slow);
    await sdk.login();
    const far = new Date(Date.now() + 86400e3).toISOString();
    const shown = screen({
      onStart() {
        wx.setStorageSync('huihua.auth', { token: 'not-a-token', expires_at: far, user_id: wx.openid });
      },
    });
    wx.cutStream('/ask_ai', 500, 'request:fail timeout');
    const reply = await sdk.askAi({ session_id: 'tok', msg: '你好' }, shown.handlers);
    assert.equal(reply.status, 'complete');
    assert.deepEqual(sentTo(wx, '/follow_reply').map((r) => r.statusCode), [401, 200]);
    assert.equal(wx.logins, 2);
    const chat = await stored(slow, wx.openid, 'tok', 2);
    assert.equal(shown.msg, chat.msg);
  });

  test('followReply of a finished reply from event 0 gives its start and its whole text', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    const first = await sdk.askAi({ session_id: 'again-later', msg: '你好' });
    const shown = screen();
    const reply = await sdk.followReply({ session_id: 'again-later', seq: first.seq }, shown.handlers);
    assert.equal(reply.status, 'complete');
    assert.equal(shown.starts.length, 1);
    assert.equal(shown.msg, first.msg);
    assert.equal(reply.request_id, first.request_id);
  });
});

describe('a server restarted', () => {
  let restarted;
  before(async () => {
    restarted = await startServer(wechat, fastModel.env);
  });
  after(async () => {
    if (restarted) await restarted.stop();
  });

  test('its events gone, a follow gets the whole text as one replace delta', async () => {
    const wx = fakeWx();
    const sdk = client(wx, restarted);
    const first = await sdk.askAi({ session_id: 'r', msg: '你好' });
    await restarted.restart();
    const shown = screen();
    shown.msg = 'text the page had, which the replace delta replaces';
    const reply = await sdk.followReply({ session_id: 'r', seq: first.seq, after: 3 }, shown.handlers);
    assert.equal(reply.status, 'complete');
    assert.deepEqual(shown.deltas.map((d) => d.replace), [true]);
    assert.equal(shown.msg, first.msg);
    assert.equal(reply.msg, first.msg);
    const chat = await stored(restarted, wx.openid, 'r', first.seq);
    assert.equal(chat.msg, first.msg);
  });
});

describe('stop, regenerate, notify', () => {
  test('stopReply ends the reply cancelled, keeping its text; askAi resolves with it', async () => {
    const wx = fakeWx();
    const sdk = client(wx, slow);
    let stopping = null;
    const shown = screen({
      onDelta() {
        if (!stopping && shown.deltas.length === 2) {
          const { session_id: sessionId, seqs } = shown.starts[0];
          stopping = sdk.stopReply({ session_id: sessionId, seq: seqs[1] });
        }
      },
    });
    const reply = await sdk.askAi({ session_id: 'stop', msg: '写一首很长的诗' }, shown.handlers);
    const stopped = await stopping;
    assert.equal(stopped.status, 'cancelled');
    assert.equal(reply.status, 'cancelled');
    assert.equal(shown.dones[0].status, 'cancelled');
    const chat = await stored(slow, wx.openid, 'stop', 2);
    assert.equal(chat.status, 'cancelled');
    assert.equal(shown.msg, chat.msg);
    assert.ok(chat.msg.length < 150 * 2, 'stopped before the end');
    await assert.rejects(sdk.stopReply({ session_id: 'stop', seq: 2 }), (err) => err.ok === 11);
  });

  test('regenerate answers the last question again in place of the last reply', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    const first = await sdk.askAi({ session_id: 'regen', msg: '讲个笑话' });
    const shown = screen();
    const again = await sdk.askAi({ session_id: 'regen', regenerate: true }, shown.handlers);
    assert.deepEqual(again.seqs, [first.seq + 1]);
    assert.equal(again.status, 'complete');
    const page = await asBackend(server, '/query_session_info', { user_id: wx.openid, session_id: 'regen' });
    assert.deepEqual(page.chats.map((c) => [c.seq, c.role]), [[1, 'user'], [3, 'ai']]);
    assert.equal(shown.msg, page.chats[1].msg);
    assert.equal(sentTo(wx, '/ask_ai')[1].data.regenerate, true);
  });

  test('requestNotify asks wx.requestSubscribeMessage; its yes is the ask\'s notify', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    wx.subscribe = { 'tmpl-ready': 'accept' };
    assert.equal(await sdk.requestNotify('tmpl-ready'), true);
    assert.equal(await sdk.requestNotify(['tmpl-other']), false);
    delete wx.requestSubscribeMessage;
    assert.equal(await sdk.requestNotify('tmpl-ready'), false);
    const reply = await sdk.askAi({ session_id: 'n', msg: '你好', notify: true });
    assert.equal(reply.status, 'complete');
    assert.equal(sentTo(wx, '/ask_ai')[0].data.notify, true);
  });

  test('an ask refused before its stream rejects with the ok of its envelope', async () => {
    const wx = fakeWx();
    const sdk = client(wx);
    await assert.rejects(sdk.askAi({ session_id: 'bad', msg: 'x', model: 'no-such-model' }), (err) => {
      assert.ok(err instanceof HuihuaError);
      assert.equal(err.ok, 1);
      assert.equal(err.statusCode, 400);
      assert.match(err.failed, /model/);
      return true;
    });
    await assert.rejects(sdk.followReply({ session_id: 'nowhere', seq: 9 }), (err) => err.ok === 2);
  });
});

describe('without chunked transfer', () => {
  test('an old base library: ask with stream false, then a poll of querySessionInfo', async () => {
    const wx = fakeWx({ chunked: false });
    const sdk = client(wx, slow, { pollMs: 200 });
    const shown = screen();
    const reply = await sdk.askAi({ session_id: 'poll', msg: '写一首秋天的诗' }, shown.handlers);
    assert.equal(reply.status, 'complete');
    const asks = sentTo(wx, '/ask_ai');
    assert.equal(asks.length, 1);
    assert.equal(asks[0].data.stream, false);
    assert.ok(wx.sent.every((r) => !r.chunked));
    const polls = sentTo(wx, '/query_session_info');
    assert.ok(polls.length > 2, `polls: ${polls.length}`);
    assert.ok(polls.every((r) => r.data.after_seq === 1));
    assert.ok(shown.deltas.length > 1);
    assert.equal(shown.starts.length, 1);
    assert.equal(shown.dones.length, 1);
    const chat = await stored(slow, wx.openid, 'poll', 2);
    assert.equal(shown.msg, chat.msg);
    assert.equal(reply.msg, chat.msg);
  });

  test('the poll in the background waits for resume() from onShow, then reads on', async () => {
    const wx = fakeWx({ chunked: false });
    const sdk = client(wx, slow, { pollMs: 200, retries: 1 });
    const shown = screen({
      onDelta() {
        if (shown.deltas.length === 1) wx.hide();
      },
    });
    const asked = sdk.askAi({ session_id: 'poll-bg', msg: '写一首长诗' }, shown.handlers);
    try {
      await waitFor('hidden', () => wx.hidden);
      await waitFor('the reply finished', async () => {
        const chat = await stored(slow, wx.openid, 'poll-bg', 2);
        return chat && chat.status === 'complete';
      });
      assert.equal(shown.dones.length, 0);
    } finally {
      wx.show();
    }
    sdk.resume();
    const reply = await asked;
    assert.equal(reply.status, 'complete');
    const chat = await stored(slow, wx.openid, 'poll-bg', 2);
    assert.equal(shown.msg, chat.msg);
    const polls = sentTo(wx, '/query_session_info');
    assert.ok(polls.some((r) => r.statusCode === 0), 'a poll was interrupted');
  });

  test('the developer tools read by poll too, unless told transport: chunked', async () => {
    const wx = fakeWx();
    wx.getDeviceInfo = () => ({ platform: 'devtools' });
    await client(wx).askAi({ session_id: 'dev', msg: '你好' });
    assert.equal(sentTo(wx, '/ask_ai')[0].data.stream, false);
    const forced = fakeWx();
    forced.getDeviceInfo = () => ({ platform: 'devtools' });
    await client(forced, server, { transport: 'chunked' }).askAi({ session_id: 'dev', msg: '你好' });
    assert.equal(sentTo(forced, '/ask_ai')[0].data.stream, undefined);
    assert.ok(sentTo(forced, '/ask_ai')[0].chunked);
  });
});

describe('the quick start\'s server (no login, auth off)', () => {
  let open;
  before(async () => {
    open = await startServer(null, fastModel.env);
  });
  after(async () => {
    if (open) await open.stop();
  });

  test('the first call says the server has no login and names the options', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: open.baseUrl, wx });
    await assert.rejects(sdk.askAi({ msg: '你好' }), (err) => {
      assert.ok(err instanceof HuihuaError);
      assert.equal(err.ok, 2);
      assert.match(err.failed, /no \/login/);
      assert.match(err.failed, /HUIHUA_WECHAT_APPID/);
      assert.match(err.failed, /devUserId/);
      assert.match(err.failed, /autoLogin: false/);
      return true;
    });
    assert.equal(wx.logins, 1);
  });

  test('devUserId: every call acts as that user, made on the first call', async () => {
    const wx = fakeWx();
    const sdk = createClient({ baseUrl: open.baseUrl, wx, devUserId: 'dev-user-1' });
    const shown = screen();
    const reply = await sdk.askAi({ session_id: 'qs', msg: '你好' }, shown.handlers);
    assert.equal(reply.status, 'complete');
    assert.equal(wx.logins, 0);
    const chat = await stored(open, 'dev-user-1', 'qs', 2);
    assert.equal(shown.msg, chat.msg);
    const names = await sdk.querySessionNames({});
    assert.deepEqual(names.sessions.map((s) => s.session_id), ['qs']);
    assert.deepEqual(sentTo(wx, '/add_user').map((r) => r.data.user_id), ['dev-user-1']);
  });
});
