// huihua's operator console (docs/api.md §9): plain JavaScript, no library, no build step.
//
// Every text the server sends is put in the page as text (textContent, text nodes,
// attributes set one by one): never parsed as HTML. Images are shown only from https:
// addresses; links lead only to this page's own routes. The service key is kept in
// sessionStorage and sent as Authorization; no cookie is ever set.
"use strict";

(() => {
  const KEY = "huihua.console.key";
  const AUTH_ON = document.body.dataset.auth === "on";
  const SVG = "http://www.w3.org/2000/svg";
  const byId = (id) => document.getElementById(id);
  const view = byId("view");

  // -- building the page, as text ----------------------------------------------------------

  function fill(el, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.setAttribute("class", value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }
  const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => fill(document.createElementNS(SVG, tag), attrs, children);

  const route = (...parts) => "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  const when = (stamp) => (stamp ? stamp.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "never");
  const httpsUrl = (url) => typeof url === "string" && /^https:\/\/[^\s]+$/i.test(url);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  function show(...children) {
    view.replaceChildren(...children.flat().filter(Boolean));
    const heading = view.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }

  let carried = "";

  function say(text) {
    byId("status").textContent = text;
  }

  function failure(error) {
    return h("p", { class: "error", role: "alert" }, error.message || String(error));
  }

  // -- the API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(ok, failed) {
      super(failed);
      this.ok = ok;
    }
  }

  function headers(key) {
    const sent = { "content-type": "application/json" };
    const credential = key === undefined ? sessionStorage.getItem(KEY) : key;
    if (credential) sent.authorization = "Bearer " + credential;
    return sent;
  }

  async function post(path, body, key) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: headers(key),
        body: JSON.stringify(body || {}),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(-1, "the server does not answer");
    }
    return response;
  }

  async function call(path, body, key) {
    const response = await post(path, body, key);
    let reply;
    try {
      reply = await response.json();
    } catch (error) {
      throw new ApiError(-1, `${path}: HTTP ${response.status}, not JSON`);
    }
    if (reply.ok !== 0) {
      if (reply.ok === 3 && AUTH_ON && key === undefined) signOut("The server refused the key: " + reply.failed);
      throw new ApiError(reply.ok, reply.failed || `${path}: ok ${reply.ok}`);
    }
    return reply;
  }

  // -- signing in ----------------------------------------------------------------------------

  const form = byId("sign-in");
  const keyInput = byId("key");

  function showSignIn(message) {
    byId("nav").hidden = true;
    view.replaceChildren();
    form.hidden = false;
    byId("sign-in-error").textContent = message || "";
    keyInput.focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    showSignIn(message);
  }

  function showApp() {
    form.hidden = true;
    byId("nav").hidden = false;
    byId("sign-out").hidden = !AUTH_ON;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    const error = byId("sign-in-error");
    error.textContent = "";
    if (!key) return;
    try {
      await call("list_users", { limit: 1 }, key);
    } catch (failed) {
      error.textContent =
        failed.ok === 3
          ? "Wrong key: the server refused it."
          : failed.ok === 4
            ? "This credential is not the service key."
            : failed.message;
      keyInput.select();
      return;
    }
    sessionStorage.setItem(KEY, key);
    keyInput.value = "";
    showApp();
    navigate();
  });

  byId("sign-out").addEventListener("click", () => signOut("Signed out."));

  // -- pages of a list -----------------------------------------------------------------------

  // A list read by cursor: ``fetchPage(cursor)`` answers {rows, next}; ``row(item)`` makes an li.
  function paged(list, fetchPage, row, label) {
    const more = h("button", { type: "button", class: "more", hidden: true }, label);
    const problem = h("div");
    let cursor = "";
    async function next() {
      more.disabled = true;
      try {
        const { rows, next: after } = await fetchPage(cursor);
        for (const item of rows) list.append(row(item));
        if (!list.children.length) list.append(h("li", { class: "empty" }, "Nothing here."));
        cursor = after;
        more.hidden = !after;
      } catch (error) {
        problem.replaceChildren(failure(error));
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", next);
    return { more, problem, next };
  }

  // -- Users ---------------------------------------------------------------------------------

  function usersView(params) {
    const query = params.get("q") || "";
    const input = h("input", {
      id: "user-query",
      type: "search",
      value: query,
      placeholder: "id prefix or text in the name",
      autocomplete: "off",
    });
    const search = h(
      "form",
      {
        class: "search",
        role: "search",
        onsubmit: (event) => {
          event.preventDefault();
          const text = input.value.trim();
          location.hash = "#/users" + (text ? "?q=" + encodeURIComponent(text) : "");
        },
      },
      h("label", { for: "user-query" }, "Find a user"),
      input,
      h("button", { type: "submit" }, "Search"),
    );
    const list = h("ul", { class: "rows", id: "users" });
    const pages = paged(
      list,
      async (cursor) => {
        const reply = await call("list_users", { query, limit: 50, cursor });
        return { rows: reply.users, next: reply.next_cursor };
      },
      (user) =>
        h(
          "li",
          { class: "row" },
          h(
            "a",
            { href: route("user", user.user_id), class: "row-link" },
            h("span", { class: "name" }, user.user_name || "(no name)"),
            h("code", { class: "id" }, user.user_id),
          ),
          h(
            "span",
            { class: "facts" },
            `${plural(user.session_count, "session", "sessions")} · `,
            `${plural(user.message_count, "message", "messages")} · `,
            `last active ${when(user.last_active_at)} · joined ${when(user.created_at)}`,
          ),
        ),
      "More users",
    );
    show(h("h1", {}, "Users"), search, pages.problem, list, pages.more);
    return pages.next();
  }

  // -- a user: profile, sessions, export, erase ----------------------------------------------

  async function userView(userId) {
    const heading = h("h1", {}, userId);
    const profile = h("dl", { class: "profile" });
    const actions = h("div", { class: "actions" });
    const list = h("ul", { class: "rows", id: "sessions" });
    const pages = paged(
      list,
      async (cursor) => {
        const reply = await call("query_session_names", { user_id: userId, limit: 50, cursor });
        return { rows: reply.sessions, next: reply.next_cursor };
      },
      (session) =>
        h(
          "li",
          { class: "row" },
          h(
            "a",
            { href: route("session", userId, session.session_id), class: "row-link" },
            session.pinned ? h("span", { class: "badge pinned" }, "pinned") : null,
            h("span", { class: "name" }, session.session_title || "(untitled)"),
            h("code", { class: "id" }, session.session_id),
          ),
          h(
            "span",
            { class: "facts" },
            `${plural(session.chat_count, "message", "messages")} · active ${when(session.updated_at)}`,
          ),
        ),
      "More sessions",
    );
    show(
      h("p", { class: "crumbs" }, h("a", { href: "#/users" }, "Users"), " / user"),
      heading,
      profile,
      actions,
      h("h2", {}, "Sessions"),
      pages.problem,
      list,
      pages.more,
    );
    let info;
    try {
      info = await call("query_user_info", { user_id: userId });
    } catch (error) {
      profile.replaceWith(failure(error));
      return;
    }
    heading.textContent = info.user_name || userId;
    for (const [name, value] of Object.entries(info)) {
      if (["request_id", "ok", "failed"].includes(name)) continue;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      profile.append(h("div", {}, h("dt", {}, name), h("dd", {}, text)));
    }
    actions.append(exportButton(userId), eraseForm(userId));
    await pages.next();
  }

  function exportButton(userId) {
    const button = h("button", { type: "button", id: "export" }, "Export (JSON)");
    button.addEventListener("click", async () => {
      button.disabled = true;
      say("Exporting…");
      try {
        const response = await post("export_user_data", { user_id: userId });
        const blob = await response.blob();
        if (!response.ok) {
          const reply = JSON.parse(await blob.text());
          throw new ApiError(reply.ok, reply.failed);
        }
        const url = URL.createObjectURL(new Blob([blob], { type: "application/json" }));
        const name = "huihua-export-" + userId.replace(/[^A-Za-z0-9_.-]/g, "_") + ".json";
        const link = h("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        say(`Exported ${userId}.`);
      } catch (error) {
        say("Export failed: " + error.message);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function eraseForm(userId) {
    const input = h("input", { id: "erase-confirm", type: "text", autocomplete: "off", spellcheck: "false" });
    const button = h("button", { type: "submit", class: "danger", disabled: true }, "Erase for good");
    const problem = h("div");
    input.addEventListener("input", () => {
      button.disabled = input.value !== userId;
    });
    const erase = h(
      "form",
      {
        class: "erase",
        onsubmit: async (event) => {
          event.preventDefault();
          if (input.value !== userId) return;
          button.disabled = true;
          try {
            await call("delete_user", { user_id: userId });
          } catch (error) {
            problem.replaceChildren(failure(error));
            button.disabled = false;
            return;
          }
          carried = `Erased ${userId}: the user, every session and message.`;
          location.hash = "#/users";
        },
      },
      h("label", { for: "erase-confirm" }, "Type the user id to confirm"),
      input,
      button,
      problem,
    );
    return h(
      "details",
      { class: "danger-zone" },
      h("summary", {}, "Erase this user…"),
      h("p", {}, "Deletes the user with every session, message and request record (/delete_user). It cannot be undone."),
      erase,
    );
  }

  // -- a session, as a chat ------------------------------------------------------------------

  function partView(part) {
    const label = part.name || part.url.split("/").pop() || part.type;
    if (part.type === "image" && httpsUrl(part.url)) {
      return h(
        "a",
        { class: "part image", href: part.url, target: "_blank", rel: "noopener noreferrer" },
        h("img", {
          class: "thumb",
          src: part.url,
          alt: part.name || "image",
          loading: "lazy",
          referrerpolicy: "no-referrer",
        }),
      );
    }
    // cloud:// ids (and other kinds) are shown as their name: nothing is fetched.
    return h("span", { class: "part file", title: part.url }, `${part.type}: ${label}`);
  }

  function messageView(chat, userId, sessionId) {
    const role = ["user", "ai", "system", "tool"].includes(chat.role) ? chat.role : "other";
    const head = h(
      "div",
      { class: "meta" },
      h("span", { class: "role" }, role === "tool" && chat.name ? `tool · ${chat.name}` : chat.role),
      h("a", { href: route("session", userId, sessionId, chat.seq), class: "seq" }, `#${chat.seq}`),
      h("time", { datetime: chat.created_at }, when(chat.created_at)),
      chat.status && chat.status !== "complete" ? h("span", { class: `badge status-${chat.status}` }, chat.status) : null,
      chat.rating ? h("span", { class: `badge rating-${chat.rating}` }, chat.rating === "like" ? "like" : "dislike") : null,
    );
    const body = [];
    if (chat.tool_call_id) body.push(h("p", { class: "small" }, `answers call ${chat.tool_call_id}`));
    if (chat.reasoning) {
      body.push(h("details", { class: "reasoning" }, h("summary", {}, "Reasoning"), h("div", { class: "text" }, chat.reasoning)));
    }
    if (chat.msg) body.push(h("div", { class: "text" }, chat.msg));
    if (chat.parts && chat.parts.length) body.push(h("div", { class: "parts" }, chat.parts.map(partView)));
    if (chat.tool_calls && chat.tool_calls.length) {
      body.push(
        h(
          "div",
          { class: "tool-calls" },
          chat.tool_calls.map((tc) => h("div", { class: "tool-call" }, h("code", {}, `${tc.name}(${tc.arguments})`), h("span", { class: "small" }, ` ${tc.id}`))),
        ),
      );
    }
    if (chat.comment) body.push(h("p", { class: "comment" }, h("span", { class: "small" }, "comment: "), chat.comment));
    return h("li", { class: `msg role-${role}`, id: `m-${chat.seq}`, "data-seq": chat.seq }, head, body);
  }

  async function sessionView(userId, sessionId, target) {
    const heading = h("h1", {}, sessionId);
    const chat = h("ol", { class: "chat", id: "chat" });
    const older = h("button", { type: "button", class: "more", hidden: true }, "Older messages");
    const newer = h("button", { type: "button", class: "more", hidden: true }, "Newer messages");
    const problem = h("div");
    show(
      h(
        "p",
        { class: "crumbs" },
        h("a", { href: "#/users" }, "Users"),
        " / ",
        h("a", { href: route("user", userId) }, userId),
        " / session",
      ),
      heading,
      problem,
      older,
      chat,
      newer,
    );
    const seqs = () => [...chat.children].map((li) => Number(li.dataset.seq));
    async function load(ask, where) {
      try {
        const reply = await call("query_session_info", { user_id: userId, session_id: sessionId, limit: 200, ...ask });
        heading.textContent = reply.session_title || "(untitled)";
        const items = reply.chats.map((c) => messageView(c, userId, sessionId));
        if (where === "before") chat.prepend(...items);
        else chat.append(...items);
        return reply;
      } catch (error) {
        problem.replaceChildren(failure(error));
        return null;
      }
    }
    older.addEventListener("click", async () => {
      const reply = await load({ before_seq: Math.min(...seqs()) }, "before");
      if (reply) older.hidden = !reply.has_more;
    });
    newer.addEventListener("click", async () => {
      const reply = await load({ after_seq: Math.max(...seqs()) }, "after");
      if (reply) newer.hidden = !reply.has_more;
    });
    if (target) {
      const reply = await load({ after_seq: Math.max(0, target - 10) }, "after");
      if (!reply) return;
      newer.hidden = !reply.has_more;
      older.hidden = target <= 10;
      const found = byId(`m-${target}`);
      if (found) {
        found.classList.add("target");
        found.setAttribute("tabindex", "-1");
        found.scrollIntoView({ block: "center" });
        found.focus({ preventScroll: true });
      }
    } else {
      const reply = await load({}, "after");
      if (reply) older.hidden = !reply.has_more;
      if (!chat.children.length) chat.append(h("li", { class: "empty" }, "No messages."));
    }
  }

  // -- Feedback ------------------------------------------------------------------------------

  function feedbackView(params) {
    const rating = ["like", "dislike"].includes(params.get("rating")) ? params.get("rating") : "";
    const select = h(
      "select",
      {
        id: "rating",
        onchange: () => {
          location.hash = "#/feedback" + (select.value ? "?rating=" + select.value : "");
        },
      },
      h("option", { value: "" }, "Likes and dislikes"),
      h("option", { value: "dislike" }, "Dislikes"),
      h("option", { value: "like" }, "Likes"),
    );
    select.value = rating;
    const list = h("ul", { class: "cards", id: "feedback" });
    const pages = paged(
      list,
      async (cursor) => {
        const body = { limit: 30, cursor };
        if (rating) body.rating = rating;
        const reply = await call("list_feedback", body);
        return { rows: reply.feedback, next: reply.next_cursor };
      },
      (item) =>
        h(
          "li",
          { class: `card rated-${item.rating}` },
          h(
            "div",
            { class: "meta" },
            h("span", { class: `badge rating-${item.rating}` }, item.rating === "like" ? "like" : "dislike"),
            h("time", { datetime: item.rated_at }, when(item.rated_at)),
            h("a", { href: route("user", item.user_id) }, item.user_id),
          ),
          h("p", { class: "question" }, h("span", { class: "small" }, "Q "), item.question || "(no question)"),
          h("p", { class: "answer" }, h("span", { class: "small" }, "A "), item.msg || "(empty reply)"),
          item.comment ? h("p", { class: "comment" }, h("span", { class: "small" }, "comment: "), item.comment) : null,
          h(
            "a",
            { class: "open", href: route("session", item.user_id, item.session_id, item.seq) },
            `Open in “${item.session_title || item.session_id}” at #${item.seq}`,
          ),
        ),
      "More feedback",
    );
    show(
      h("h1", {}, "Feedback"),
      h("div", { class: "search" }, h("label", { for: "rating" }, "Show"), select),
      pages.problem,
      list,
      pages.more,
    );
    return pages.next();
  }

  // -- Usage ---------------------------------------------------------------------------------

  const FIGURES = [
    ["messages", "Messages"],
    ["active_users", "Active users"],
    ["new_users", "New users"],
    ["likes", "Likes"],
    ["dislikes", "Dislikes"],
  ];

  // A bar chart of ``series`` ([{name, values}], stacked) over ``dates``, drawn as SVG.
  function chart(id, title, dates, series) {
    const width = 640;
    const height = 180;
    const left = 36;
    const bottom = 20;
    const top = 8;
    const totals = dates.map((_, i) => series.reduce((sum, one) => sum + one.values[i], 0));
    const most = Math.max(1, ...totals);
    const step = (width - left) / dates.length;
    const bar = Math.max(1, step * 0.8);
    const scale = (height - bottom - top) / most;
    const svg = s(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title`, class: "chart-svg" },
      s("title", { id: `${id}-title` }, title),
      s("line", { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: "axis" }),
      s("text", { x: left - 4, y: top + 8, class: "tick", "text-anchor": "end" }, String(most)),
      s("text", { x: left - 4, y: height - bottom, class: "tick", "text-anchor": "end" }, "0"),
      s("text", { x: left, y: height - 4, class: "tick" }, dates[0]),
      s("text", { x: width, y: height - 4, class: "tick", "text-anchor": "end" }, dates[dates.length - 1]),
    );
    dates.forEach((date, i) => {
      let y = height - bottom;
      series.forEach((one, k) => {
        const value = one.values[i];
        if (!value) return;
        const tall = value * scale;
        y -= tall;
        svg.append(
          s(
            "rect",
            { x: left + i * step + (step - bar) / 2, y, width: bar, height: tall, class: `bar s${k % 6}`, "data-date": date, "data-series": one.name, "data-value": value },
            s("title", {}, `${date} · ${one.name}: ${value}`),
          ),
        );
      });
    });
    const legend =
      series.length > 1
        ? h("ul", { class: "legend" }, series.map((one, k) => h("li", {}, h("span", { class: `swatch s${k % 6}` }), `${one.name}: ${one.values.reduce((a, b) => a + b, 0)}`)))
        : null;
    return h("figure", { class: "chart", id }, h("figcaption", {}, title), svg, legend);
  }

  function keysOf(days, field) {
    const names = new Set();
    for (const day of days) for (const name of Object.keys(day[field])) names.add(name);
    return [...names].sort();
  }

  async function usageView(params) {
    const days = [7, 30, 90].includes(Number(params.get("days"))) ? Number(params.get("days")) : 30;
    const choices = h(
      "div",
      { class: "choices", role: "group", "aria-label": "Days" },
      [7, 30, 90].map((n) => h("a", { href: `#/usage?days=${n}`, class: "choice", "aria-current": n === days ? "true" : null }, `${n} days`)),
    );
    const body = h("div", { id: "usage" }, h("p", {}, "Loading…"));
    show(h("h1", {}, "Usage"), choices, body);
    let reply;
    try {
      reply = await call("usage_stats", { days });
    } catch (error) {
      body.replaceChildren(failure(error));
      return;
    }
    const list = reply.days;
    const dates = list.map((d) => d.date);
    const totals = reply.totals;
    const figures = h(
      "dl",
      { class: "totals", id: "totals" },
      FIGURES.map(([key, label]) => h("div", {}, h("dt", {}, label), h("dd", { "data-figure": key }, String(totals[key])))),
      h("div", {}, h("dt", {}, "Replies"), h("dd", { "data-figure": "replies" }, String(Object.values(totals.replies).reduce((a, b) => a + b, 0)))),
      h("div", {}, h("dt", {}, "Tokens"), h("dd", { "data-figure": "tokens" }, String(Object.values(totals.tokens).reduce((a, t) => a + t.prompt + t.completion, 0)))),
    );
    const statuses = keysOf(list, "replies");
    const models = keysOf(list, "tokens");
    body.replaceChildren(
      h("p", { class: "small" }, `${dates[0]} to ${dates[dates.length - 1]} (the quota's time zone), totals over the range:`),
      figures,
      h(
        "div",
        { class: "charts" },
        chart("chart-messages", "Messages a day", dates, [{ name: "messages", values: list.map((d) => d.messages) }]),
        chart("chart-active", "Active users a day", dates, [{ name: "active users", values: list.map((d) => d.active_users) }]),
        chart("chart-new", "New users a day", dates, [{ name: "new users", values: list.map((d) => d.new_users) }]),
        chart("chart-replies", "Replies by status", dates, statuses.map((st) => ({ name: st, values: list.map((d) => d.replies[st] || 0) }))),
        chart(
          "chart-tokens",
          "Tokens by model (prompt + completion)",
          dates,
          models.map((m) => ({ name: m, values: list.map((d) => (d.tokens[m] ? d.tokens[m].prompt + d.tokens[m].completion : 0)) })),
        ),
        chart("chart-ratings", "Likes and dislikes", dates, [
          { name: "likes", values: list.map((d) => d.likes) },
          { name: "dislikes", values: list.map((d) => d.dislikes) },
        ]),
      ),
      models.length
        ? h(
            "table",
            { class: "models" },
            h("caption", {}, "Tokens by model over the range"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "model"), h("th", { scope: "col" }, "prompt"), h("th", { scope: "col" }, "completion"))),
            h("tbody", {}, models.map((m) => h("tr", { "data-model": m }, h("th", { scope: "row" }, m), h("td", {}, String(totals.tokens[m].prompt)), h("td", {}, String(totals.tokens[m].completion))))),
          )
        : null,
    );
  }

  // -- routes --------------------------------------------------------------------------------

  async function navigate() {
    if (AUTH_ON && !sessionStorage.getItem(KEY)) {
      showSignIn();
      return;
    }
    showApp();
    const hash = location.hash.replace(/^#\/?/, "");
    const [path, query] = hash.split("?");
    const parts = path.split("/").map((p) => {
      try {
        return decodeURIComponent(p);
      } catch (error) {
        return p;
      }
    });
    const params = new URLSearchParams(query || "");
    const section = { user: "users", session: "users" }[parts[0]] || parts[0] || "users";
    for (const link of document.querySelectorAll("#nav a")) {
      if (link.dataset.section === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (parts[0] === "user" && parts[1]) return userView(parts[1]);
    if (parts[0] === "session" && parts[1] && parts[2]) {
      const seq = Number(parts[3]);
      return sessionView(parts[1], parts[2], Number.isInteger(seq) && seq > 0 ? seq : null);
    }
    if (parts[0] === "feedback") return feedbackView(params);
    if (parts[0] === "usage") return usageView(params);
    return usersView(params);
  }

  window.addEventListener("hashchange", () => {
    say(carried); // a message for the next view (an erase), or nothing
    carried = "";
    navigate();
  });
  navigate();
})();
