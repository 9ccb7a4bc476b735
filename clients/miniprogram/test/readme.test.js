'use strict';
// The README's mini-program example (section "Clients") works as written: its page, run
// with this SDK and a wx whose requests reach a real huihua server, logs in, sends and
// shows the session.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');

const sdk = require('../huihua.js');
const { startFakeWeChat, startServer, fakeWx } = require('./harness.js');

const README = path.join(__dirname, '..', '..', '..', 'README.md');
let wechat;
let server;

before(async () => {
  wechat = await startFakeWeChat();
  server = await startServer(wechat);
});

after(async () => {
  delete globalThis.wx;
  if (server) await server.stop();
  if (wechat) await wechat.stop();
});

function example() {
  const clients = fs.readFileSync(README, 'utf8').split('\n## Clients\n')[1].split('\n## ')[0];
  const blocks = [...clients.matchAll(/```js\n([\s\S]*?)```/g)];
  assert.equal(blocks.length, 1);
  return blocks[0][1];
}

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
