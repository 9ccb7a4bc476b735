'use strict';
/**
 * huihua for WeChat mini-programs: one file, no build step, no dependency.
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
 *   sent again.
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
};

const DEFAULTS = {
  retries: 4, // sends after the first, on a lost reply, ok 7 or ok 8
  backoffMs: 300, // the first wait; doubled each time, with jitter, up to maxBackoffMs
  maxBackoffMs: 5000,
  timeoutMs: 15000, // wx.request's timeout
  storageKey: 'huihua.auth', // where the token is kept with wx.setStorageSync
  autoLogin: true, // log in (wx.login + /login) when a call has no valid token
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

function createClient(options) {
  const opts = Object.assign({}, DEFAULTS, options);
  const wx = opts.wx || globalThis.wx;
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
    const token = validToken();
    if (token || !opts.autoLogin) return token || (storedAuth() || {}).token || null;
    await login();
    return validToken();
  }

  // Send one call until it is answered for good: the reply on ok 0, a HuihuaError else.
  async function call(path, fields, { auth = true } = {}) {
    const body = Object.assign({}, fields);
    if (!body.request_id) body.request_id = newRequestId();
    let loggedInAgain = false;
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
      if (ok === 3 && auth && opts.autoLogin && !loggedInAgain) {
        loggedInAgain = true;
        wx.removeStorageSync(opts.storageKey);
        continue; // tokenForCall logs in
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
        const reply = await call('/login', { code }, { auth: false });
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

  const client = { login, logout, userId, sessions, messages };
  for (const [name, path] of Object.entries(ENDPOINTS)) {
    client[name] = (fields) => call(path, fields || {});
  }
  return client;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    return null;
  }
}

module.exports = { createClient, HuihuaError, ENDPOINTS };
