'use strict';
/**
 * What the SDK's tests run against: a real `huihua serve` process (auth on, a temporary
 * SQLite file, a free port; or the quick start's: auth off, no login), a fake WeChat
 * jscode2session on loopback (a real HTTP server), the fake model of tests/fake_model.py
 * (a real OpenAI-compatible server, in its own process), and a `wx` whose `request` makes
 * real HTTP calls and can lose a reply after the server has handled the request, as a
 * mobile network does; with `enableChunked` it hands the body over in pieces of 1-7 bytes
 * (splitting characters and events), can cut it after N bytes, and can play the app going
 * to the background and back.
 *
 * The server runs `$HUIHUA_PYTHON -m huihua serve` (default `python3`): the pytest wrapper
 * (tests/test_miniprogram_sdk_node.py) passes its own interpreter and path.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const APPID = 'wx-sdk-test-appid';
const WECHAT_SECRET = 'sdk-test-wechat-secret-0123456789abcdef';
const SERVICE_KEY = 'sdk-test-service-key-' + 'k'.repeat(8) + '0123456789abcdefghij';
const TOKEN_SECRET = 'sdk-test-token-secret-' + 't'.repeat(8) + '0123456789abcdefghij';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * A fake WeChat: `ok-<openid>` logs that openid in, once per code (as WeChat does);
 * any other code is refused. `calls` lists the codes it was asked about.
 */
async function startFakeWeChat() {
  const used = new Set();
  const calls = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://fake');
    const code = url.searchParams.get('js_code') || '';
    calls.push(code);
    let body;
    if (url.pathname !== '/sns/jscode2session' || url.searchParams.get('secret') !== WECHAT_SECRET
      || url.searchParams.get('appid') !== APPID) {
      body = { errcode: 40125, errmsg: 'invalid appsecret' };
    } else if (used.has(code)) {
      body = { errcode: 40163, errmsg: 'code been used' };
    } else if (code.startsWith('ok-')) {
      body = { openid: code.slice(3).split('~')[0], session_key: 'never-leaves-the-server' };
    } else {
      body = { errcode: 40029, errmsg: 'invalid code' };
    }
    used.add(code);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(JSON.stringify(body));
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${port}`, calls, stop: () => new Promise((r) => server.close(r)) };
}

async function waitFor(what, condition, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Start `huihua serve` with auth on and /login against `wechat`; `env` adds settings.
 * Resolves once /healthz answers 200, to { baseUrl, serviceKey, stop() }.
 */
async function startServer(wechat, env = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huihua-sdk-'));
  const port = await freePort();
  const childEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUIHUA_')) childEnv[k] = v;
  Object.assign(childEnv, {
    HUIHUA_DATABASE_URL: `sqlite:///${path.join(dir, 'huihua.db')}`,
    HUIHUA_LOG_LEVEL: 'warning',
  });
  if (wechat) { // else the quick start's server: auth off, no /login
    Object.assign(childEnv, {
      HUIHUA_SERVICE_KEY: SERVICE_KEY,
      HUIHUA_TOKEN_SECRET: TOKEN_SECRET,
      HUIHUA_WECHAT_APPID: APPID,
      HUIHUA_WECHAT_SECRET: WECHAT_SECRET,
      HUIHUA_WECHAT_API_BASE: wechat.base,
    });
  }
  Object.assign(childEnv, env);
  const python = process.env.HUIHUA_PYTHON || 'python3';
  const baseUrl = `http://127.0.0.1:${port}`;
  let child;
  let exited = false;
  async function launch() {
    child = spawn(python, ['-m', 'huihua', 'serve', '--port', String(port)], {
      env: childEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    exited = false;
    child.on('exit', () => { exited = true; });
    try {
      await waitFor('huihua serve', async () => {
        if (exited) throw new Error(`huihua serve exited: ${stderr}`);
        try {
          return (await fetch(`${baseUrl}/healthz`)).status === 200;
        } catch (err) {
          return false;
        }
      });
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }
  async function halt() {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
  }
  await launch();
  async function stop() {
    await halt();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  /** Stop the process and start it again on the same port and store (its memory gone). */
  async function restart() {
    await halt();
    await launch();
  }
  return { baseUrl, serviceKey: wechat ? SERVICE_KEY : '', stop, restart };
}

const ROOT = path.join(__dirname, '..', '..', '..');

/**
 * Start the fake model (`python -m tests.fake_model`): every call answered with `chunks`
 * pieces of 1-3 Chinese characters, `delayMs` apart. Resolves to { baseUrl, env, stop() },
 * `env` the server settings that ask it.
 */
async function startFakeModel({ chunks = 40, delayMs = 0 } = {}) {
  const port = await freePort();
  const python = process.env.HUIHUA_PYTHON || 'python3';
  const args = ['-m', 'tests.fake_model', '--port', String(port), '--chunks', String(chunks),
    '--delay-ms', String(delayMs)];
  const child = spawn(python, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  child.stdout.on('data', (chunk) => { out += chunk; });
  child.stderr.on('data', (chunk) => { out += chunk; });
  child.on('exit', () => { exited = true; });
  try {
    await waitFor('the fake model', () => {
      if (exited) throw new Error(`the fake model exited: ${out}`);
      return out.includes('listening on');
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  async function stop() {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
  }
  const env = {
    HUIHUA_LLM_BASE_URL: baseUrl,
    HUIHUA_LLM_API_KEY: 'sk-sdk-test-model-key-0123456789',
    HUIHUA_LLM_MODELS: 'fake-chat,fake-reasoner',
  };
  return { baseUrl, env, stop };
}

/**
 * A `wx` for node: `request` sends real HTTP with fetch; `login` hands out the codes
 * queued in `codes` (or a fresh `ok-<openid>` for `openid`); storage is a Map.
 *
 * `dropReplies(n, pathPart)` loses the replies of the next n requests whose URL holds
 * pathPart, after the server has answered them: `fail` is called as on a timeout.
 * `replaceReplies(n, pathPart, reply)` hands over `reply` ({ statusCode, data, header })
 * instead of the server's, after the server has answered: a proxy's error page, or an
 * ok 8 as when the store went away just after the write.
 * `sent` records every request: { path, data, header, statusCode, dropped }.
 */
function fakeWx({ openid, chunked = true } = {}) {
  const storage = new Map();
  const drops = [];
  const replacements = [];
  const cuts = [];
  const tasks = new Set(); // the chunked requests in flight
  const wx = {
    sent: [],
    codes: [],
    logins: 0,
    openid: openid || `o-sdk-${Math.random().toString(36).slice(2)}`,
    chunked, // false: a base library before 2.20.2 (no enableChunked)
    hidden: false,
    splits: 0, // pieces handed over that end inside a character
    subscribe: {}, // what requestSubscribeMessage answers, by template id
    canIUse(name) {
      return name !== 'request.object.enableChunked' || wx.chunked;
    },
    /** Cut the next chunked request whose URL holds pathPart after `bytes` bytes. */
    cutStream(pathPart, bytes, errMsg = 'request:fail interrupted') {
      cuts.push({ pathPart, bytes, errMsg });
    },
    /** The app goes to the background: requests in flight and new ones fail "interrupted". */
    hide() {
      wx.hidden = true;
      for (const task of [...tasks]) task.interrupt();
    },
    /** The app comes back (the page's onShow follows). */
    show() {
      wx.hidden = false;
    },
    requestSubscribeMessage({ tmplIds, success }) {
      const res = { errMsg: 'requestSubscribeMessage:ok' };
      for (const id of tmplIds) res[id] = wx.subscribe[id] || 'reject';
      setImmediate(() => success(res));
    },
    dropReplies(n, pathPart = '') {
      for (let i = 0; i < n; i++) drops.push(pathPart);
    },
    replaceReplies(n, pathPart, reply) {
      for (let i = 0; i < n; i++) replacements.push([pathPart, reply]);
    },
    request(options) {
      const { url, method, data, header, success, fail } = options;
      const record = { path: new URL(url).pathname, data, header, statusCode: 0, dropped: false,
        chunked: Boolean(options.enableChunked && wx.chunked) };
      wx.sent.push(record);
      if (wx.hidden) {
        setImmediate(() => fail({ errMsg: 'request:fail interrupted' }));
        return {};
      }
      if (record.chunked) {
        const cutAt = cuts.findIndex((c) => url.includes(c.pathPart));
        const cut = cutAt >= 0 ? cuts.splice(cutAt, 1)[0] : null;
        return chunkedRequest(options, record, cut);
      }
      const body = typeof data === 'string' ? data : JSON.stringify(data);
      fetch(url, { method, headers: header, body }).then(async (res) => {
        const text = await res.text();
        let parsed = text;
        try { parsed = JSON.parse(text); } catch (err) { /* wx hands over the text */ }
        record.statusCode = res.status;
        const dropAt = drops.findIndex((part) => url.includes(part));
        if (dropAt >= 0) {
          drops.splice(dropAt, 1);
          record.dropped = true;
          fail({ errMsg: 'request:fail timeout' });
          return;
        }
        const swapAt = replacements.findIndex(([part]) => url.includes(part));
        if (swapAt >= 0) {
          const [, reply] = replacements.splice(swapAt, 1)[0];
          record.statusCode = reply.statusCode;
          success({ header: {}, ...reply });
          return;
        }
        success({ statusCode: res.status, data: parsed, header: Object.fromEntries(res.headers) });
      }, (err) => fail({ errMsg: `request:fail ${err.message}` }));
    },
    login({ success }) {
      wx.logins += 1;
      const code = wx.codes.length ? wx.codes.shift() : `ok-${wx.openid}~${wx.logins}-${Date.now()}`;
      setImmediate(() => success({ code, errMsg: 'login:ok' }));
    },
    getStorageSync(key) {
      return storage.has(key) ? JSON.parse(storage.get(key)) : '';
    },
    setStorageSync(key, value) {
      storage.set(key, JSON.stringify(value));
    },
    removeStorageSync(key) {
      storage.delete(key);
    },
  };
  // A chunked wx.request: the body goes to onChunkReceived in pieces of 1-7 bytes as it
  // arrives; success (with no data) once it has ended; fail on abort, a cut, or hide().
  function chunkedRequest({ url, method, data, header, success, fail }, record, cut) {
    const chunkListeners = [];
    const headerListeners = [];
    const controller = new AbortController();
    let ended = false;
    const end = (callback, result) => {
      if (ended) return;
      ended = true;
      tasks.delete(task);
      controller.abort();
      callback(result);
    };
    const task = {
      onChunkReceived(listener) { chunkListeners.push(listener); },
      onHeadersReceived(listener) { headerListeners.push(listener); },
      abort() { end(fail, { errMsg: 'request:fail abort' }); },
      interrupt() { end(fail, { errMsg: 'request:fail interrupted' }); },
    };
    tasks.add(task);
    const body = typeof data === 'string' ? data : JSON.stringify(data);
    let sizes = 0;
    (async () => {
      const res = await fetch(url, { method, headers: header, body, signal: controller.signal });
      record.statusCode = res.status;
      const headers = Object.fromEntries(res.headers);
      for (const listener of headerListeners) listener({ header: headers, statusCode: res.status });
      const reader = res.body.getReader();
      let delivered = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (let at = 0; at < value.length && !ended;) {
          let size = 1 + ((sizes++ * 5 + 3) % 7);
          if (cut && delivered + size >= cut.bytes) size = cut.bytes - delivered;
          const piece = value.slice(at, at + size);
          if ((value[at + size] & 0xc0) === 0x80) wx.splits += 1;
          for (const listener of chunkListeners) listener({ data: piece.buffer });
          delivered += piece.length;
          at += size;
          if (cut && delivered >= cut.bytes) {
            end(fail, { errMsg: cut.errMsg });
            return;
          }
          if (sizes % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      end(success, { statusCode: res.status, header: headers, data: new ArrayBuffer(0) });
    })().catch((err) => end(fail, { errMsg: `request:fail ${err.message}` }));
    return task;
  }

  return wx;
}

/** POST with the service key, as the app's back end does; resolves to the reply body. */
async function asBackend(server, route, fields) {
  const headers = { 'content-type': 'application/json' };
  if (server.serviceKey) headers.authorization = `Bearer ${server.serviceKey}`;
  const res = await fetch(server.baseUrl + route, {
    method: 'POST', headers, body: JSON.stringify(fields),
  });
  return res.json();
}

module.exports = { startFakeWeChat, startServer, startFakeModel, fakeWx, asBackend, waitFor };
