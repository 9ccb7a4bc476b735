'use strict';
/**
 * huihua for WeChat mini-programs: one file, no build step, no dependency (huihua.d.ts
 * beside it declares its types; clients/miniprogram/README.md has a whole chat page).
 *
 * Copy it into the mini-program (e.g. `utils/huihua.js`) and:
 *
 *     const { createClient } = require('./utils/huihua.js');
 *     const huihua = createClient({ baseUrl: 'https://chat.example.com' });
 *     const { session_id } = await huihua.addChat({ role: 'user', msg: '你好' });
 *
 * - A method per endpoint, named as the endpoint in camelCase (`/add_chat` → `addChat`),
 *   taking the wire fields of docs/api.md as they are. It resolves to the reply on ok 0 and
 *   rejects with a `HuihuaError` (`ok`, `failed`, `statusCode`, `requestId`) otherwise.
 * - `login()` exchanges `wx.login`'s code at `/login` and keeps the user token and its
 *   expiry with `wx.setStorageSync`. A call made without a valid token logs in first, and
 *   a call answered ok 3 (token expired, or its user deleted) logs in again, once, and is
 *   sent again. A server without login (no WeChat settings, auth off: `huihua serve` on a
 *   developer's machine) answers the first call with an error that says so: there,
 *   `devUserId` makes every call act as that user (made with /add_user when it is new).
 * - Every call gets a `request_id` (its own, unless the fields carry one) and is sent again
 *   with the same one when the reply is lost (`wx.request` fails) or says ok 7 (after its
 *   `Retry-After`) or ok 8: the server writes it once however often it arrives (docs/api.md §4).
 *   A retried `deleteUser` that answers ok 2 (the first try did delete) resolves. With a
 *   user token the retry answers ok 3 instead (the token died with its user): the SDK logs
 *   in again, which makes a new empty user of the same WeChat user, and deletes that one
 *   too, so the user is gone either way; the token is dropped from storage.
 * - `sessions({ limit })` and `messages({ session_id, limit })` are async iterators that
 *   follow the cursors: sessions pinned first, then most recently active first; messages
 *   newest first, scrolling back.
 * - `askAi(fields, { onStart, onDelta, onDone })` and `followReply` read a reply huihua
 *   asks a model for (docs/api.md §8) as it is written, and resolve to the finished reply. The
 *   stream comes over `wx.request` with `enableChunked`, decoded here (a chunk may end
 *   inside a character or an event; iOS has no TextDecoder). When the request fails (the
 *   app went to the background: "interrupted"; the 60 s timeout; a network change) the SDK
 *   follows the reply from the last event it has (`/follow_reply`), by itself and at once
 *   when the page calls `resume()` from `onShow`, until `done`. Where chunked transfer is
 *   not available (a base library before 2.20.2, the developer tools), it asks with
 *   `stream: false` and reads the growing reply with `querySessionInfo` once a second.
 */

// Every POST endpoint of docs/api.md: method name → path. Reads are retried as writes are.
const ENDPOINTS = {
  addUser: '/add_user',
  queryUserInfo: '/query_user_info',
  addChat: '/add_chat',
  addChats: '/add_chats',
  updateChat: '/update_chat',
  deleteChat: '/delete_chat',
  querySessionNames: '/query_session_names',
  querySessionInfo: '/query_session_info',
  searchChats: '/search_chats',
  renameSession: '/rename_session',
  pinSession: '/pin_session',
  rateChat: '/rate_chat',
  deleteSpecificSession: '/delete_specific_session',
  deleteSessions: '/delete_sessions',
  deleteUser: '/delete_user',
  exportUserData: '/export_user_data',
  askAi: '/ask_ai', // a stream of events: see askAi below
  followReply: '/follow_reply', // a stream of events
  stopReply: '/stop_reply',
};

const DEFAULTS = {
  retries: 4, // sends after the first, on a lost reply, ok 7 or ok 8
  backoffMs: 300, // the first wait; doubled each time, with jitter, up to maxBackoffMs
  maxBackoffMs: 5000,
  timeoutMs: 15000, // wx.request's timeout
  storageKey: 'huihua.auth', // where the token is kept with wx.setStorageSync
  autoLogin: true, // log in (wx.login + /login) when a call has no valid token
  devUserId: '', // a server without login (auth off): every call acts as this user
  transport: 'auto', // how replies are read: 'chunked', 'poll', or 'auto' (chosen here)
  streamTimeoutMs: 60000, // a stream request's timeout (WeChat's own is 60 s at most)
  idleTimeoutMs: 45000, // a stream silent this long is cut and followed (pings every 15 s)
  pollMs: 1000, // how often the poll transport reads the growing reply
};

const RENEW_BEFORE_MS = 60 * 1000; // a token this close to its expiry is renewed first

class HuihuaError extends Error {
  /**
   * A call that did not succeed: `ok` is the reply's code (docs/api.md §1), or null when no
   * reply came (network down, every retry lost); `statusCode` is the HTTP status (0 when
   * no reply came); `requestId` the call's request_id, to find it in the server's log.
   */
  constructor({ ok, failed, statusCode, requestId }) {
    super(`huihua: ok ${ok}: ${failed}`);
    this.name = 'HuihuaError';
    this.ok = ok;
    this.failed = failed;
    this.statusCode = statusCode;
    this.requestId = requestId;
  }
}

function newRequestId() {
  const random = Math.random().toString(36).slice(2, 12).padEnd(10, '0');
  return `mp-${Date.now().toString(36)}-${random}`;
}

function header(res, name) {
  const headers = res.header || {};
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The mini-program's wx: a global of the app's code, which globalThis may not carry.
function globalWx() {
  if (typeof wx !== 'undefined') return wx; // eslint-disable-line no-undef
  return typeof globalThis !== 'undefined' ? globalThis.wx : undefined;
}

function createClient(options) {
  const opts = Object.assign({}, DEFAULTS, options);
  const wx = opts.wx || globalWx();
  if (!opts.baseUrl) throw new TypeError('createClient: baseUrl is required');
  if (!wx) throw new TypeError('createClient: no wx (pass { wx } outside a mini-program)');
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  let loggingIn = null; // the login in flight, shared by the calls that wait for it

  function request(path, data, headers) {
    return new Promise((resolve, reject) => {
      wx.request({
        url: baseUrl + path,
        method: 'POST',
        data,
        header: headers,
        timeout: opts.timeoutMs,
        dataType: 'json',
        success: resolve,
        fail: reject,
      });
    });
  }

  function backoff(attempt, res) {
    const after = res && Number(header(res, 'retry-after'));
    if (after > 0) return after * 1000;
    const ms = Math.min(opts.maxBackoffMs, opts.backoffMs * 2 ** attempt);
    return ms / 2 + (Math.random() * ms) / 2;
  }

  function storedAuth() {
    const auth = wx.getStorageSync(opts.storageKey);
    return auth && auth.token ? auth : null;
  }

  function validToken() {
    const auth = storedAuth();
    if (!auth) return null;
    const expires = Date.parse(auth.expires_at);
    return expires - Date.now() > RENEW_BEFORE_MS ? auth.token : null;
  }

  async function tokenForCall() {
    if (opts.devUserId) return null; // a server without login: user_id in the body
    const token = validToken();
    if (token || !opts.autoLogin) return token || (storedAuth() || {}).token || null;
    await login();
    return validToken();
  }

  // Send one call until it is answered for good: the reply on ok 0, a HuihuaError else.
  async function call(path, fields, { auth = true } = {}) {
    const body = auth ? withUser(fields) : Object.assign({}, fields);
    if (!body.request_id) body.request_id = newRequestId();
    let loggedInAgain = false;
    let madeUser = false;
    let sent = 0;
    for (;;) {
      const headers = { 'content-type': 'application/json' };
      const token = auth ? await tokenForCall() : null;
      if (token) headers.authorization = `Bearer ${token}`;
      let res;
      try {
        res = await request(path, body, headers);
      } catch (err) {
        // No reply: the request may or may not have been handled; the same request_id
        // makes sending it again safe.
        if (sent++ < opts.retries) {
          await sleep(backoff(sent - 1));
          continue;
        }
        const failed = (err && err.errMsg) || String(err);
        throw new HuihuaError({ ok: null, failed, statusCode: 0, requestId: body.request_id });
      }
      const data = typeof res.data === 'string' ? parseJson(res.data) : res.data;
      const ok = data && typeof data.ok === 'number' ? data.ok : null;
      if (ok === 0) {
        if (path === '/delete_user' && token) wx.removeStorageSync(opts.storageKey);
        return data;
      }
      if (ok === 3 && auth && opts.autoLogin && !opts.devUserId && !loggedInAgain) {
        loggedInAgain = true;
        wx.removeStorageSync(opts.storageKey);
        continue; // tokenForCall logs in
      }
      if (!madeUser && isNewDevUser(path, body, data)) {
        madeUser = true;
        await call('/add_user', { user_id: body.user_id });
        continue;
      }
      // ok 7, ok 8, or a proxy's own error page in front of a server that is down.
      const again = ok === 7 || ok === 8 || (ok === null && res.statusCode >= 502);
      if (again && sent++ < opts.retries) {
        await sleep(backoff(sent - 1, res));
        continue;
      }
      if (ok === 2 && path === '/delete_user' && sent > 0) {
        // A retry of a delete that happened: the user is gone, which is what was asked.
        if (token) wx.removeStorageSync(opts.storageKey);
        return { request_id: body.request_id, ok: 0, failed: '' };
      }
      throw new HuihuaError({
        ok,
        failed: data && data.failed ? data.failed : `HTTP ${res.statusCode}, not huihua's reply`,
        statusCode: res.statusCode,
        requestId: body.request_id,
      });
    }
  }

  function wxLogin() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: (res) => resolve(res.code),
        fail: (err) => reject(new HuihuaError({
          ok: null, failed: (err && err.errMsg) || 'wx.login failed', statusCode: 0,
          requestId: '',
        })),
      });
    });
  }

  /** Log in: wx.login's code for a user token, kept in storage; resolves to /login's reply. */
  function login() {
    if (!loggingIn) {
      loggingIn = (async () => {
        const code = await wxLogin();
        const reply = await call('/login', { code }, { auth: false }).catch(noLoginHere);
        wx.setStorageSync(opts.storageKey, {
          token: reply.token,
          expires_at: reply.expires_at,
          user_id: reply.user_id,
        });
        return reply;
      })();
      const done = () => { loggingIn = null; };
      loggingIn.then(done, done);
    }
    return loggingIn;
  }

  // The body of a call: with devUserId, its user_id unless the fields name one.
  function withUser(fields) {
    const body = Object.assign({}, fields);
    if (opts.devUserId && body.user_id === undefined) body.user_id = opts.devUserId;
    return body;
  }

  // A devUserId's first call, on a server that does not know that user yet.
  function isNewDevUser(path, body, data) {
    return Boolean(opts.devUserId) && body.user_id === opts.devUserId
      && path !== '/add_user' && path !== '/delete_user'
      && data.ok === 2 && /^user_id: no such user/.test(data.failed || '');
  }

  // /login answered "no such endpoint": a server without WeChat login. Say so, and how on.
  function noLoginHere(err) {
    if (!(err instanceof HuihuaError) || err.ok !== 2 || err.statusCode !== 404) throw err;
    throw new HuihuaError({
      ok: 2,
      failed: 'login: this server has no /login (it has no WeChat login: HUIHUA_WECHAT_APPID '
        + 'and HUIHUA_WECHAT_SECRET are not set), so the SDK cannot log in by itself. Against '
        + 'a server without login (auth off, as `huihua serve` on your machine) pass '
        + "createClient({ devUserId: 'some-user' }), or autoLogin: false and user_id in each call",
      statusCode: err.statusCode,
      requestId: err.requestId,
    });
  }

  /** Forget the stored token (the next call logs in again). */
  function logout() {
    wx.removeStorageSync(opts.storageKey);
  }

  /** The logged-in user's id, or null. */
  function userId() {
    const auth = storedAuth();
    return auth ? auth.user_id : null;
  }

  /** The user's sessions (pinned first, then by activity), page by page as the loop asks. */
  async function* sessions({ limit, ...fields } = {}) {
    let cursor = '';
    do {
      const page = { ...fields };
      if (limit) page.limit = limit;
      if (cursor) page.cursor = cursor;
      const reply = await call('/query_session_names', page);
      yield* reply.sessions;
      cursor = reply.next_cursor;
    } while (cursor);
  }

  /** A session's messages, newest first, scrolling back page by page. */
  async function* messages({ session_id, limit, ...fields } = {}) {
    let beforeSeq;
    for (;;) {
      const page = { ...fields, session_id };
      if (limit) page.limit = limit;
      if (beforeSeq !== undefined) page.before_seq = beforeSeq;
      const reply = await call('/query_session_info', page);
      for (let i = reply.chats.length - 1; i >= 0; i--) yield reply.chats[i];
      if (!reply.has_more || reply.chats.length === 0) return;
      beforeSeq = reply.chats[0].seq;
    }
  }

  // -- replies a model gives (docs/api.md §8) ------------------------------------------------

  const waiting = new Set(); // the wake-ups of replies waiting to be read again
  let resumes = 0; // resume() calls so far: a try cut before the latest one goes at once

  /**
   * Read every reply that waits again now (its request failed, e.g. "interrupted" while
   * the app was in the background): call it from the page's onShow. Returns how many.
   */
  function resume() {
    resumes += 1;
    const wakes = [...waiting];
    waiting.clear();
    for (const wake of wakes) wake();
    return wakes.length;
  }

  // Resolve after ms, or at the next resume(), whichever comes first.
  function pause(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      waiting.add(wake);
    });
  }

  // Whether wx.request hands the body over as it comes (enableChunked, base library
  // 2.20.2+); the developer tools do not, whatever they say.
  function chunked() {
    if (opts.transport !== 'auto') return opts.transport === 'chunked';
    if (typeof wx.canIUse === 'function' && !wx.canIUse('request.object.enableChunked')) {
      return false;
    }
    try {
      const device = wx.getDeviceInfo ? wx.getDeviceInfo() : wx.getSystemInfoSync ? wx.getSystemInfoSync() : {};
      return !(device && device.platform === 'devtools');
    } catch (err) {
      return true;
    }
  }

  /**
   * Ask the model (POST /ask_ai): `fields` as /ask_ai takes them (`msg`, `parts`,
   * `session_id`, `model`, `notify`…, or `regenerate: true`); `onStart`, `onDelta` and
   * `onDone` are called as the reply is written. Resolves to the finished reply (its
   * `status` complete, failed, cancelled or blocked); rejects with a HuihuaError when the
   * ask is refused (its ok) or the server stays out of reach (ok null; `err.reply` says
   * which reply, to follow later).
   */
  function askAi(fields, handlers) {
    const body = withUser(fields || {});
    if (!body.request_id) body.request_id = newRequestId();
    const reply = newReply(body);
    if (!chunked()) return pollAsk(body, reply, handlers || {});
    return readReply(reply, handlers || {}, body, null);
  }

  /**
   * Follow reply `seq` of `session_id` from the event after `after` (POST /follow_reply):
   * resolves to the finished reply, as askAi does.
   */
  function followReply(fields, handlers) {
    const { after, ...rest } = fields || {};
    const follow = withUser(rest);
    if (!follow.request_id) follow.request_id = newRequestId();
    const reply = newReply(follow);
    reply.lastEventId = Number(after) || 0;
    if (!chunked()) return pollReply(reply, handlers || {}, userOf(follow));
    return readReply(reply, handlers || {}, null, follow);
  }

  // Read a reply's streams until done: the ask (sent again with its request_id until a
  // start comes), then follows from the last event id. Tries are counted as for a call,
  // afresh whenever a stream brings news; "interrupted" (the app in the background) waits
  // for resume() (or maxBackoffMs) and counts nothing.
  async function readReply(reply, handlers, ask, followFields) {
    let follow = followFields;
    let sent = 0;
    let loggedInAgain = false;
    let madeUser = false;
    for (;;) {
      const path = follow ? '/follow_reply' : '/ask_ai';
      const body = follow ? Object.assign({}, follow, { after: reply.lastEventId }) : ask;
      const token = await tokenForCall();
      const resumedBefore = resumes;
      const outcome = await streamOnce(path, body, token, reply, handlers);
      if (reply.status !== 'streaming') return reply;
      if (outcome.progressed) sent = 0;
      if (!follow && reply.seq) {
        // The follows carry the ask's request_id: the server's log shows one request.
        follow = Object.assign(userOf(ask), {
          request_id: ask.request_id, session_id: reply.session_id, seq: reply.seq,
        });
      }
      if (outcome.res) {
        const { res, data } = outcome;
        const ok = data && typeof data.ok === 'number' ? data.ok : null;
        if (ok === 3 && opts.autoLogin && !opts.devUserId && !loggedInAgain) {
          loggedInAgain = true;
          wx.removeStorageSync(opts.storageKey);
          continue;
        }
        if (!madeUser && data && isNewDevUser(path, body, data)) {
          madeUser = true;
          await call('/add_user', { user_id: body.user_id });
          continue;
        }
        const again = ok === 7 || ok === 8 || (ok === null && res.statusCode >= 502);
        if (again && sent++ < opts.retries) {
          await pause(backoff(sent - 1, res));
          continue;
        }
        throw replyError(reply, {
          ok,
          failed: data && data.failed ? data.failed : `HTTP ${res.statusCode}, not huihua's reply`,
          statusCode: res.statusCode,
          requestId: body.request_id,
        });
      }
      if (/interrupted/.test(outcome.errMsg)) {
        if (resumes === resumedBefore) await pause(opts.maxBackoffMs);
        continue;
      }
      if (sent++ < opts.retries) {
        await pause(backoff(sent - 1));
        continue;
      }
      throw replyError(reply, {
        ok: null, failed: outcome.errMsg, statusCode: 0, requestId: body.request_id,
      });
    }
  }

  // One try: resolves to { progressed, errMsg } when the stream was cut (or never came),
  // to { progressed, res, data } when the answer was an envelope, and to { progressed }
  // once done came.
  function streamOnce(path, body, token, reply, handlers) {
    return new Promise((resolve) => {
      const reader = new EventReader();
      const raw = []; // the chunks of an answer that is not a stream
      let kind = ''; // 'stream' or 'envelope': from the headers, else the first byte
      let chunks = 0;
      let progressed = false;
      let settled = false;
      let idle = null;
      let task = null;
      const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
      if (token) headers.authorization = `Bearer ${token}`;
      function finish(outcome, abort) {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        resolve(Object.assign({ progressed }, outcome));
        if (abort && task && typeof task.abort === 'function') task.abort();
      }
      function watch() {
        clearTimeout(idle);
        idle = setTimeout(() => finish({ errMsg: 'request:fail no byte for idleTimeoutMs' }, true),
          opts.idleTimeoutMs);
      }
      function take(chunk) {
        if (settled) return;
        chunks += 1;
        watch();
        if (!kind) kind = firstByte(chunk) === 0x7b ? 'envelope' : 'stream';
        if (kind === 'envelope') {
          raw.push(chunk);
          return;
        }
        for (const frame of reader.push(chunk)) {
          if (settled) return; // cut (a handler hid the app, say): the next try reads on
          if (applyFrame(reply, frame, handlers)) progressed = true;
          if (reply.status !== 'streaming') {
            finish({}, true);
            return;
          }
        }
      }
      task = wx.request({
        url: baseUrl + path,
        method: 'POST',
        data: body,
        header: headers,
        timeout: opts.streamTimeoutMs,
        enableChunked: true,
        responseType: 'arraybuffer',
        dataType: 'text',
        success(res) {
          if (settled) return;
          // No chunk came: chunked transfer is off after all, the body is whole in data.
          if (!chunks && res.data != null && typeof res.data === 'object' && !isBytes(res.data)) {
            kind = 'envelope';
            raw.push(JSON.stringify(res.data));
          } else if (!chunks && res.data != null) {
            take(res.data);
          }
          if (settled) return;
          if (kind === 'envelope' || res.statusCode !== 200) {
            const decoder = new Utf8Decoder();
            const text = raw.map((c) => (typeof c === 'string' ? c : decoder.decode(c))).join('');
            finish({ res, data: parseJson(text) });
            return;
          }
          finish({ errMsg: `request:fail the stream ended after event ${reply.lastEventId}, before done` });
        },
        fail(err) {
          finish({ errMsg: (err && err.errMsg) || String(err) });
        },
      });
      if (!task || typeof task.onChunkReceived !== 'function') return; // whole, at success
      if (typeof task.onHeadersReceived === 'function') {
        task.onHeadersReceived((res) => {
          const type = header(res, 'content-type') || '';
          if (!type || kind) return;
          const status = res.statusCode === undefined ? 200 : res.statusCode;
          kind = status === 200 && type.startsWith('text/event-stream') ? 'stream' : 'envelope';
        });
      }
      task.onChunkReceived((res) => take(res.data));
      watch();
    });
  }

  // Where chunked transfer is not available: ask with stream: false, then read the reply.
  async function pollAsk(body, reply, handlers) {
    const start = await call('/ask_ai', Object.assign({}, body, { stream: false }));
    applyFrame(reply, { id: '1', event: 'start', data: JSON.stringify(start) }, handlers);
    return pollReply(reply, handlers, userOf(body));
  }

  // Read the reply from the store once every pollMs (or at resume()) until it is not
  // streaming; what it adds comes as deltas, a text that changed otherwise as replace.
  // A read "interrupted" (the app in the background) waits for resume(), as a stream does.
  async function pollReply(reply, handlers, who) {
    for (;;) {
      let page;
      try {
        page = await call('/query_session_info', Object.assign({}, who, {
          session_id: reply.session_id, after_seq: reply.seq - 1, limit: 1,
        }));
      } catch (err) {
        if (!(err instanceof HuihuaError) || err.ok !== null || !/interrupted/.test(err.failed)) {
          throw replyError(reply, err);
        }
        await pause(opts.maxBackoffMs);
        continue;
      }
      const chat = page.chats.find((c) => c.seq === reply.seq);
      if (!chat) {
        throw replyError(reply, {
          ok: 2, failed: `seq: reply ${reply.seq} is gone (deleted)`, statusCode: 404,
          requestId: page.request_id,
        });
      }
      const msg = chat.msg || '';
      const reasoning = chat.reasoning || '';
      const meta = chat.meta || {};
      const status = chat.status || 'complete';
      if (msg !== reply.msg || reasoning !== reply.reasoning) {
        const grows = msg.startsWith(reply.msg) && reasoning.startsWith(reply.reasoning);
        const delta = grows && status !== 'blocked'
          ? { msg: msg.slice(reply.msg.length), reasoning: reasoning.slice(reply.reasoning.length) }
          : { msg, reasoning, replace: true };
        applyDelta(reply, delta, handlers);
      }
      if (status !== 'streaming') {
        const done = { seq: reply.seq, status, failed: meta.error || '', meta };
        if (status === 'blocked') done.msg = msg;
        applyDone(reply, done, handlers);
        return reply;
      }
      await pause(opts.pollMs);
    }
  }

  /**
   * Ask the user to accept the "your answer is ready" template (wx.requestSubscribeMessage;
   * call it from a tap): resolves to true when one of `tmplIds` was accepted, the `notify`
   * to pass to askAi. Never rejects (false when refused or unavailable).
   */
  function requestNotify(tmplIds) {
    const ids = Array.isArray(tmplIds) ? tmplIds : [tmplIds];
    return new Promise((resolve) => {
      if (typeof wx.requestSubscribeMessage !== 'function') {
        resolve(false);
        return;
      }
      wx.requestSubscribeMessage({
        tmplIds: ids,
        success: (res) => resolve(ids.some((id) => res && res[id] === 'accept')),
        fail: () => resolve(false),
      });
    });
  }

  const client = { login, logout, userId, sessions, messages, resume, requestNotify };
  for (const [name, path] of Object.entries(ENDPOINTS)) {
    client[name] = (fields) => call(path, fields || {});
  }
  client.askAi = askAi;
  client.followReply = followReply;
  return client;
}

// -- a reply's events ---------------------------------------------------------------------

/**
 * UTF-8 bytes in, text out, a chunk at a time: a character split between two chunks comes
 * out whole with the second (iOS has no TextDecoder). Malformed bytes read as U+FFFD.
 */
class Utf8Decoder {
  constructor() {
    this.pending = null; // the first bytes of a character the next chunk completes
  }

  /** Return the text the bytes complete; with `end`, an unfinished character is U+FFFD. */
  decode(input, end = false) {
    let bytes = toBytes(input);
    if (this.pending) {
      const merged = new Uint8Array(this.pending.length + bytes.length);
      merged.set(this.pending);
      merged.set(bytes, this.pending.length);
      bytes = merged;
      this.pending = null;
    }
    const units = [];
    let text = '';
    const n = bytes.length;
    let i = 0;
    while (i < n) {
      const b = bytes[i];
      let need = 0;
      if (b < 0x80) need = -1;
      else if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) need = 2;
      else if (b >= 0xf0 && b <= 0xf4) need = 3;
      if (need === -1) {
        units.push(b);
        i += 1;
      } else if (need === 0) {
        units.push(0xfffd);
        i += 1;
      } else {
        let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
        // The second byte's range rules out overlong forms, surrogates and > U+10FFFF.
        let lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
        let hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
        let j = 1;
        for (; j <= need && i + j < n; j++) {
          const c = bytes[i + j];
          if (c < lo || c > hi) break;
          lo = 0x80;
          hi = 0xbf;
          cp = (cp << 6) | (c & 0x3f);
        }
        if (j > need) {
          if (cp > 0xffff) {
            cp -= 0x10000;
            units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
          } else {
            units.push(cp);
          }
          i += need + 1;
        } else if (i + j >= n && !end) {
          this.pending = bytes.slice(i); // valid so far: the rest comes with the next chunk
          break;
        } else {
          units.push(0xfffd);
          i += j;
        }
      }
      if (units.length >= 8192) {
        text += String.fromCharCode.apply(null, units);
        units.length = 0;
      }
    }
    return text + String.fromCharCode.apply(null, units);
  }
}

function isBytes(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(0);
}

function firstByte(chunk) {
  if (typeof chunk === 'string') return chunk.charCodeAt(0);
  const bytes = toBytes(chunk);
  return bytes.length ? bytes[0] : -1;
}

/**
 * text/event-stream in, frames ({ id, event, data }) out: the rules huihua's streams need
 * (comments dropped, data lines joined, one optional space after the colon).
 */
class EventReader {
  constructor() {
    this.decoder = new Utf8Decoder();
    this.rest = ''; // the start of a line the next chunk ends
    this.id = '';
    this.event = '';
    this.data = [];
  }

  /** Return the frames a chunk (bytes, or text) completes. */
  push(chunk) {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk);
    const lines = (this.rest + text).split('\n');
    this.rest = lines.pop();
    const frames = [];
    for (const line of lines) {
      const frame = this.line(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (frame) frames.push(frame);
    }
    return frames;
  }

  line(line) {
    if (line.startsWith(':')) return null;
    if (line) {
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') this.data.push(value);
      else if (name === 'event') this.event = value;
      else if (name === 'id') this.id = value;
      return null;
    }
    const frame = this.data.length ? { id: this.id, event: this.event, data: this.data.join('\n') } : null;
    this.id = '';
    this.event = '';
    this.data = [];
    return frame;
  }
}

function newReply(fields) {
  return {
    request_id: fields.request_id || '',
    session_id: fields.session_id || '',
    seq: Number(fields.seq) || 0,
    seqs: [],
    created_at: '',
    msg: '',
    reasoning: '',
    status: 'streaming',
    failed: '',
    meta: {},
    lastEventId: 0,
  };
}

function userOf(fields) {
  return fields.user_id === undefined ? {} : { user_id: fields.user_id };
}

// A handler that throws is the page's bug: it must not stop the reply being read.
function notify(handler, ...args) {
  if (typeof handler !== 'function') return;
  try {
    handler(...args);
  } catch (err) {
    if (typeof console !== 'undefined') console.error('huihua: a reply handler threw', err);
  }
}

// Apply one frame to the reply; return whether it was news (an id not seen yet).
function applyFrame(reply, frame, handlers) {
  const id = Number(frame.id);
  if (!Number.isInteger(id) || id <= reply.lastEventId) return false;
  const data = parseJson(frame.data);
  if (!data || typeof data !== 'object') return false;
  reply.lastEventId = id;
  if (frame.event === 'start') {
    reply.request_id = data.request_id || reply.request_id;
    reply.session_id = data.session_id || reply.session_id;
    reply.seqs = Array.isArray(data.seqs) ? data.seqs : reply.seqs;
    reply.seq = reply.seqs.length ? reply.seqs[reply.seqs.length - 1] : reply.seq;
    reply.created_at = data.created_at || reply.created_at;
    notify(handlers.onStart, Object.assign({ id }, data));
  } else if (frame.event === 'delta') {
    applyDelta(reply, Object.assign({ id }, data), handlers);
  } else if (frame.event === 'done') {
    applyDone(reply, Object.assign({ id }, data), handlers);
  }
  return true; // an event this SDK does not know: counted, not shown
}

function applyDelta(reply, delta, handlers) {
  if (delta.replace) {
    reply.msg = delta.msg || '';
    reply.reasoning = delta.reasoning || '';
  } else {
    reply.msg += delta.msg || '';
    reply.reasoning += delta.reasoning || '';
  }
  notify(handlers.onDelta, delta, reply);
}

function applyDone(reply, done, handlers) {
  reply.status = done.status || 'failed';
  reply.failed = done.failed || '';
  reply.meta = done.meta || {};
  if (typeof done.msg === 'string') {
    // blocked: the notice replaces the text
    reply.msg = done.msg;
    reply.reasoning = '';
  }
  notify(handlers.onDone, done, reply);
}

function replyError(reply, fields) {
  const err = fields instanceof Error ? fields : new HuihuaError(fields);
  err.reply = reply; // which reply, and the last event id: followReply from there later
  return err;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

module.exports = { createClient, HuihuaError, ENDPOINTS, Utf8Decoder, EventReader };
