// The README's chat screen in TypeScript, checked with `tsc --noEmit` against huihua.d.ts
// and WeChat's own typings (tests/test_miniprogram_sdk_node.py): every method, field and
// reply it uses must be declared, and the misuses marked @ts-expect-error must be errors.

import {
  createClient, HuihuaError, Reply, ReplyHandlers, StartEvent, DeltaEvent, DoneEvent, Chat,
  SessionRow,
} from '../../huihua';

const huihua = createClient({ baseUrl: 'https://chat.example.com', transport: 'auto', pollMs: 1000 });
const dev = createClient({ baseUrl: 'http://127.0.0.1:8000', devUserId: 'dev-user-1', wx });

interface Bubble {
  seq: number;
  role: Chat['role'];
  msg: string;
  reasoning?: string;
  status?: Reply['status'];
}

Page({
  data: { sessionId: '', chats: [] as Bubble[], input: '', replying: false, sessions: [] as SessionRow[] },

  async onLoad(query: Record<string, string | undefined>) {
    const { sessions, next_cursor: more } = await huihua.querySessionNames({ limit: 50 });
    this.setData({ sessions });
    if (more) console.log('more sessions after', more);
    for await (const row of huihua.sessions({ limit: 20 })) console.log(row.session_title, row.pinned);
    if (!query.session_id) return;
    const page = await huihua.querySessionInfo({ session_id: query.session_id, limit: 50 });
    const chats: Bubble[] = page.chats.map((c) => ({ seq: c.seq, role: c.role, msg: c.msg, status: c.status }));
    this.setData({ sessionId: page.session_id, chats });
    for await (const chat of huihua.messages({ session_id: query.session_id, limit: 20 })) {
      if (chat.status === 'streaming') {
        const reply = await huihua.followReply({ session_id: query.session_id, seq: chat.seq, after: 0 },
          this.handlers());
        console.log(reply.lastEventId, reply.meta.model);
      }
      break;
    }
  },

  onShow() {
    const woken: number = huihua.resume();
    console.log(woken);
  },

  async onSend() {
    const notify: boolean = await huihua.requestNotify(['tmpl-answer-ready']);
    try {
      const reply: Reply = await huihua.askAi(
        { session_id: this.data.sessionId, msg: this.data.input, model: 'deepseek-chat', notify,
          parts: [{ type: 'image', url: 'https://example.com/a.png', width: 64 }] },
        this.handlers(this.data.input),
      );
      if (reply.status === 'blocked' || reply.status === 'failed') console.log(reply.failed, reply.msg);
      const again = await huihua.askAi({ session_id: reply.session_id, regenerate: true });
      console.log(again.seqs[0], again.reasoning);
    } catch (err) {
      if (err instanceof HuihuaError) console.log(err.ok, err.failed, err.statusCode, err.requestId, err.reply?.seq);
    }
  },

  async onStop() {
    const last = this.data.chats[this.data.chats.length - 1];
    const stopped = await huihua.stopReply({ session_id: this.data.sessionId, seq: last.seq });
    console.log(stopped.status === 'cancelled');
  },

  async onOrganise() {
    const sent = await dev.addChat({ role: 'user', msg: '你好', meta: { client: 'types' } });
    await dev.addChats({ session_id: sent.session_id, chats: [{ role: 'ai', msg: '好', status: 'complete' }] });
    await dev.renameSession({ session_id: sent.session_id, session_title: '问候' });
    await dev.pinSession({ session_id: sent.session_id, pinned: true });
    await dev.rateChat({ session_id: sent.session_id, seq: 2, rating: 'like', comment: '👍' });
    const found = await dev.searchChats({ query: '你', limit: 5 });
    console.log(found.results.map((r) => r.snippet[1]).join(), found.next_cursor);
    await dev.deleteChat({ session_id: sent.session_id, from_seq: 2 });
    const gone = await dev.deleteSessions({});
    console.log(gone.deleted);
    const data = await dev.exportUserData({});
    console.log(data.sessions.length, data.user);
    const info = await dev.queryUserInfo();
    console.log(info.user_name, info.created_at);
    await dev.addUser({ user_id: 'dev-user-1', user_name: 'dev', avatar_url: 'https://example.com/me.png' });
    await dev.deleteSpecificSession({ session_id: sent.session_id });
    await dev.deleteUser();
    const login = await huihua.login();
    console.log(login.token.length, login.expires_at, huihua.userId());
    huihua.logout();
  },

  async onMistakes() {
    // @ts-expect-error: seq is required to stop a reply
    await huihua.stopReply({ session_id: 's' });
    // @ts-expect-error: the rating is like, dislike or ""
    await huihua.rateChat({ session_id: 's', seq: 2, rating: 'love' });
    // @ts-expect-error: a part's type is image, audio, video or file
    await huihua.askAi({ msg: 'x', parts: [{ type: 'pdf', url: 'https://example.com/a.pdf' }] });
    // @ts-expect-error: no such method
    await huihua.askAI({ msg: 'x' });
    // @ts-expect-error: baseUrl is required
    createClient({ devUserId: 'x' });
    // @ts-expect-error: transport is auto, chunked or poll
    createClient({ baseUrl: 'https://x', transport: 'websocket' });
  },

  handlers(question?: string): ReplyHandlers {
    return {
      onStart: (start: StartEvent) => {
        const seq = start.seqs[start.seqs.length - 1];
        const chats = this.data.chats.filter((c) => c.seq !== seq);
        if (question !== undefined) chats.push({ seq: start.seqs[0], role: 'user', msg: question });
        chats.push({ seq, role: 'ai', msg: '', reasoning: '', status: 'streaming' });
        this.setData({ sessionId: start.session_id, chats });
      },
      onDelta: (delta: DeltaEvent, reply: Reply) => {
        if (delta.replace) console.log('the whole text so far');
        this.show(reply);
      },
      onDone: (done: DoneEvent, reply: Reply) => {
        console.log(done.status, done.meta, done.msg ?? '');
        this.show(reply);
      },
    };
  },

  show(reply: Reply) {
    const i = this.data.chats.findIndex((c) => c.seq === reply.seq);
    this.setData({ [`chats[${i}].msg`]: reply.msg, [`chats[${i}].status`]: reply.status });
  },
});
