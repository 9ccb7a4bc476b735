/**
 * The types of huihua.js, the mini-program SDK of huihua (docs/api.md in the project): copy
 * this file beside huihua.js and an editor (or `tsc`) knows every method, its fields and
 * its reply. Field names are the wire's, as docs/api.md writes them (snake_case).
 *
 * `user_id` is optional everywhere: with a user token (the SDK's login) the server takes
 * it from the token; against a server without login, `devUserId` fills it in.
 */

// -- what every call shares ---------------------------------------------------------------

/** The envelope every reply carries; ok 0 is success (anything else rejects). */
export interface Envelope {
  request_id: string;
  ok: number;
  failed: string;
}

/** The fields every call may carry. */
export interface CallFields {
  /** Made by the SDK when absent; the same one on every retry (docs/api.md §4). */
  request_id?: string;
  /** The user (taken from the token when absent). */
  user_id?: string;
}

export type Role = 'user' | 'ai' | 'system' | 'tool';
export type Status = 'complete' | 'streaming' | 'failed' | 'cancelled' | 'blocked';
export type Meta = { [key: string]: unknown };

export interface Part {
  type: 'image' | 'audio' | 'video' | 'file';
  /** An https: URL or a WeChat cloud file id (cloud://…): upload the file first. */
  url: string;
  mime?: string;
  name?: string;
  size?: number;
  width?: number;
  height?: number;
  duration_ms?: number;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A message to write (docs/api.md §5.1). */
export interface ChatIn {
  role: Role;
  msg: string;
  parts?: Part[];
  reasoning?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  name?: string;
  status?: Exclude<Status, 'blocked'>;
  meta?: Meta;
}

/** A stored message as the reads give it; a field at its default is left out. */
export interface Chat {
  role: Role;
  msg: string;
  seq: number;
  created_at: string;
  meta: Meta | null;
  parts?: Part[];
  reasoning?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  name?: string;
  /** Absent: complete. */
  status?: Status;
  updated_at?: string;
  rating?: 'like' | 'dislike';
  comment?: string;
}

export interface SessionRow {
  session_id: string;
  session_title: string;
  created_at: string;
  updated_at: string;
  chat_count: number;
  pinned: boolean;
}

// -- the endpoints ------------------------------------------------------------------------

export interface AddUserFields extends CallFields {
  user_name?: string;
  phone?: string;
  email?: string;
  /** Further profile fields, kept as they come (8 KiB in all). */
  [profile: string]: unknown;
}
export interface AddUserReply extends Envelope {
  user_id: string;
  created: boolean;
}

export interface UserInfoReply extends Envelope {
  user_id: string;
  user_name: string;
  phone: string;
  email: string;
  created_at: string;
  updated_at: string;
  [profile: string]: unknown;
}

export interface AddChatFields extends CallFields, ChatIn {
  /** Absent or "": a new session, its id in the reply. */
  session_id?: string;
  session_title?: string;
}
export interface AddChatReply extends Envelope {
  session_id: string;
  seq: number;
  created_at: string;
}

export interface AddChatsFields extends CallFields {
  chats: ChatIn[];
  session_id?: string;
  session_title?: string;
}
export interface AddChatsReply extends Envelope {
  session_id: string;
  seqs: number[];
  created_at: string;
}

export interface UpdateChatFields extends CallFields {
  session_id: string;
  seq: number;
  msg?: string | null;
  parts?: Part[] | null;
  reasoning?: string | null;
  tool_calls?: ToolCall[] | null;
  meta?: Meta | null;
  status?: Exclude<Status, 'blocked'> | null;
}
export interface UpdateChatReply extends Envelope {
  seq: number;
  updated_at: string;
}

export interface DeleteChatFields extends CallFields {
  session_id: string;
  seq?: number;
  /** That message and every later one. */
  from_seq?: number;
}
export interface DeletedReply extends Envelope {
  deleted: number;
}

export interface SessionNamesFields extends CallFields {
  limit?: number;
  cursor?: string;
}
export interface SessionNamesReply extends Envelope {
  sessions: SessionRow[];
  next_cursor: string;
}

export interface SessionInfoFields extends CallFields {
  session_id: string;
  limit?: number;
  before_seq?: number;
  after_seq?: number;
}
export interface SessionInfoReply extends Envelope {
  user_id: string;
  session_id: string;
  session_title: string;
  /** Oldest first. */
  chats: Chat[];
  has_more: boolean;
}

export interface SearchChatsFields extends CallFields {
  query: string;
  limit?: number;
  cursor?: string;
  session_id?: string;
}
export interface SearchResult {
  session_id: string;
  session_title: string;
  seq: number;
  role: Role;
  msg: string;
  /** [before, match, after]: render the middle one highlighted. */
  snippet: [string, string, string];
  created_at: string;
}
export interface SearchChatsReply extends Envelope {
  results: SearchResult[];
  next_cursor: string;
}

export interface SessionFields extends CallFields {
  session_id: string;
}

export interface RenameSessionFields extends SessionFields {
  session_title: string;
}
export interface RenameSessionReply extends Envelope {
  session_id: string;
  session_title: string;
}

export interface PinSessionFields extends SessionFields {
  pinned: boolean;
}
export interface PinSessionReply extends Envelope {
  session_id: string;
  pinned: boolean;
}

export interface RateChatFields extends SessionFields {
  seq: number;
  /** "" clears it. */
  rating: 'like' | 'dislike' | '';
  comment?: string;
}
export interface RateChatReply extends Envelope {
  seq: number;
  rating: string;
}

export interface ExportedSession extends SessionRow {
  chats: Chat[];
}
export interface ExportUserDataReply extends Envelope {
  user: { [field: string]: unknown };
  sessions: ExportedSession[];
}

export interface LoginReply extends Envelope {
  user_id: string;
  token: string;
  expires_at: string;
  created: boolean;
}

// -- replies a model gives (docs/api.md §8) ----------------------------------------------------

/** askAi's fields: a question (msg, parts), or regenerate: true. */
export interface AskAiFields extends CallFields {
  /** Absent: a new session (its id comes with onStart). */
  session_id?: string;
  session_title?: string;
  msg?: string;
  parts?: Part[];
  meta?: Meta;
  /** One of the server's models (HUIHUA_LLM_MODELS); the first when absent. */
  model?: string;
  /** The session's last reply answered again, in its place (no msg then). */
  regenerate?: boolean;
  /** "Your answer is ready" if it finishes unheard: set it from requestNotify(). */
  notify?: boolean;
}

export interface FollowReplyFields extends CallFields {
  session_id: string;
  seq: number;
  /** The last event id the page has (0: from the start). */
  after?: number;
}

export interface ReplyFields extends CallFields {
  session_id: string;
  seq: number;
}

/** The first event: what the ask wrote. */
export interface StartEvent extends Envelope {
  id: number;
  session_id: string;
  /** The question's seq and the reply's, or the reply's alone (regenerate). */
  seqs: number[];
  created_at: string;
}

/** Text to append to the reply; with replace, the whole text so far, to show instead. */
export interface DeltaEvent {
  id?: number;
  msg?: string;
  reasoning?: string;
  replace?: boolean;
}

/** The last event: the reply is stored, with this status. */
export interface DoneEvent {
  id?: number;
  seq: number;
  status: Exclude<Status, 'streaming'>;
  failed: string;
  meta: Meta;
  /** A blocked reply's notice, which replaces its text. */
  msg?: string;
}

/** A reply as its events make it; askAi and followReply resolve to it finished. */
export interface Reply {
  request_id: string;
  session_id: string;
  seq: number;
  seqs: number[];
  created_at: string;
  /** The text so far (the whole of it once done). */
  msg: string;
  reasoning: string;
  /** "streaming" until done. */
  status: Status;
  failed: string;
  meta: Meta;
  /** The last event id read: followReply({ after }) from there. */
  lastEventId: number;
}

export interface ReplyHandlers {
  /** Once, when the ask is written (also where a poll reads the reply). */
  onStart?(start: StartEvent): void;
  /** Each piece of text; `reply` holds the text so far: show reply.msg. */
  onDelta?(delta: DeltaEvent, reply: Reply): void;
  /** Once, when the reply is stored. */
  onDone?(done: DoneEvent, reply: Reply): void;
}

export interface StopReplyReply extends Envelope {
  seq: number;
  status: 'cancelled';
}

// -- the client ---------------------------------------------------------------------------

/** The part of `wx` the SDK uses (a mini-program's own wx has all of it). */
export interface WxLike {
  request(options: any): any;
  login(options: any): void;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: any): void;
  removeStorageSync(key: string): void;
  canIUse?(schema: string): boolean;
  requestSubscribeMessage?(options: any): void;
  getDeviceInfo?(): { platform: string };
}

export interface ClientOptions {
  /** The server, e.g. https://chat.example.com (a request legal domain of the app). */
  baseUrl: string;
  /** Outside a mini-program (tests): the wx to use; else the global wx. */
  wx?: WxLike;
  /** Sends after the first on a lost reply, ok 7 or ok 8 (default 4). */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A call's timeout (default 15000). */
  timeoutMs?: number;
  /** Where the token is kept (default "huihua.auth"). */
  storageKey?: string;
  /** Log in (wx.login + /login) when a call has no valid token (default true). */
  autoLogin?: boolean;
  /** A server without login (auth off, `huihua serve` on your machine): act as this user. */
  devUserId?: string;
  /** How replies are read: chunked stream, poll once a second, or auto (default). */
  transport?: 'auto' | 'chunked' | 'poll';
  /** A stream request's timeout (default 60000; the app's networkTimeout caps it). */
  streamTimeoutMs?: number;
  /** A stream silent this long is cut and followed (default 45000). */
  idleTimeoutMs?: number;
  /** The poll's period (default 1000). */
  pollMs?: number;
}

export interface Client {
  /** wx.login's code for a user token, kept in storage. */
  login(): Promise<LoginReply>;
  /** Forget the stored token. */
  logout(): void;
  /** The logged-in user's id, or null. */
  userId(): string | null;
  /** The user's sessions, pinned first, then most recently active first. */
  sessions(fields?: SessionNamesFields): AsyncGenerator<SessionRow, void, undefined>;
  /** A session's messages, newest first, scrolling back. */
  messages(fields: SessionInfoFields): AsyncGenerator<Chat, void, undefined>;

  addUser(fields: AddUserFields): Promise<AddUserReply>;
  queryUserInfo(fields?: CallFields): Promise<UserInfoReply>;
  addChat(fields: AddChatFields): Promise<AddChatReply>;
  addChats(fields: AddChatsFields): Promise<AddChatsReply>;
  updateChat(fields: UpdateChatFields): Promise<UpdateChatReply>;
  deleteChat(fields: DeleteChatFields): Promise<DeletedReply>;
  querySessionNames(fields?: SessionNamesFields): Promise<SessionNamesReply>;
  querySessionInfo(fields: SessionInfoFields): Promise<SessionInfoReply>;
  searchChats(fields: SearchChatsFields): Promise<SearchChatsReply>;
  renameSession(fields: RenameSessionFields): Promise<RenameSessionReply>;
  pinSession(fields: PinSessionFields): Promise<PinSessionReply>;
  rateChat(fields: RateChatFields): Promise<RateChatReply>;
  deleteSpecificSession(fields: SessionFields): Promise<Envelope>;
  deleteSessions(fields?: CallFields): Promise<DeletedReply>;
  deleteUser(fields?: CallFields): Promise<Envelope>;
  exportUserData(fields?: CallFields): Promise<ExportUserDataReply>;

  /** Ask the model; resolves to the finished reply (its status says how it ended). */
  askAi(fields: AskAiFields, handlers?: ReplyHandlers): Promise<Reply>;
  /** Follow a reply from the event after `after`, to done. */
  followReply(fields: FollowReplyFields, handlers?: ReplyHandlers): Promise<Reply>;
  /** Stop the model: the reply keeps its text, cancelled; its readers get done. */
  stopReply(fields: ReplyFields): Promise<StopReplyReply>;
  /** Read every reply that waits again now: call it from the page's onShow. */
  resume(): number;
  /** From a tap: ask for the "answer ready" template; true when accepted (askAi's notify). */
  requestNotify(tmplIds: string | string[]): Promise<boolean>;
}

/** A call that did not succeed. */
export declare class HuihuaError extends Error {
  /** The reply's code (docs/api.md §1), or null when no reply came. */
  ok: number | null;
  failed: string;
  /** The HTTP status, 0 when no reply came. */
  statusCode: number;
  requestId: string;
  /** askAi and followReply: the reply as far as it was read, to follow later. */
  reply?: Reply;
  constructor(fields: { ok: number | null; failed: string; statusCode: number; requestId: string });
}

/** UTF-8 bytes in, text out, a chunk at a time (a split character comes out whole). */
export declare class Utf8Decoder {
  decode(bytes: ArrayBuffer | ArrayBufferView, end?: boolean): string;
}

/** text/event-stream in, frames out. */
export declare class EventReader {
  push(chunk: ArrayBuffer | ArrayBufferView | string): { id: string; event: string; data: string }[];
}

/** Every POST endpoint: method name → path. */
export declare const ENDPOINTS: { readonly [method: string]: string };

export declare function createClient(options: ClientOptions): Client;
