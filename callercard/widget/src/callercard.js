// The callercard widget: one script a helpdesk page includes.
//
//   <script src="https://callercard.example/widget/callercard.js"></script>
//   <script>
//     CallerCard.mount({agentId: "anna", tokenUrl: "/helpdesk/callercard-token",
//                       accountUrl: "https://helpdesk.example/accounts/{account_id}"});
//   </script>
//
// tokenUrl answers a POST with callercard's AgentToken JSON (the helpdesk's backend gets it from
// POST /api/v1/agents/{id}/token with its own key). Those short-lived tokens are the widget's only
// credentials: `token` for Centrifugo (agent:#<id> alone), `api_token` for that agent's API actions.
// Everything renders in a shadow root, so the host page's styles and ours never meet.
import { Centrifuge } from "centrifuge";
import { STYLES } from "./styles.js";

const DNC_REASONS = {
  hung_up_after_intro: "Hung up after the intro",
  asked_not_to_call: "Asked not to be called",
  invalid_number: "Invalid number",
  abroad: "Abroad",
  other: "Other",
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function scriptOrigin() {
  const script = document.currentScript;
  return script ? new URL(script.src, location.href).origin : location.origin;
}

const DEFAULT_API = scriptOrigin();

class Widget {
  constructor(options) {
    this.agentId = options.agentId;
    this.api = (options.api || DEFAULT_API).replace(/\/$/, "");
    this.tokenUrl = options.tokenUrl;
    this.fetchToken = options.getToken;
    this.accountUrl = options.accountUrl || "";
    this.calls = new Map(); // call id -> last card event
    this.speakers = new Map(); // call id -> the name this agent confirmed as speaking
    this.lines = new Map(); // queue -> {line, queue, free, on_line, seq, me}
    this.rows = new Map(); // number -> its callback worklist row, as this agent may see it
    this.rowsLoading = null; // rows published while the list loads: applied after it
    this.token = null;
    this.host = el("div", { id: "callercard-widget" });
    (options.container || document.body).append(this.host);
    this.root = this.host.attachShadow({ mode: "open" });
    this.root.append(el("style", { text: STYLES }));
    this.build();
  }

  // --- credentials and the API ---------------------------------------------

  async freshToken() {
    const soon = Date.now() / 1000 + 60;
    if (!this.token || this.token.expires_at < soon) {
      if (this.fetchToken) this.token = await this.fetchToken();
      else {
        const response = await fetch(this.tokenUrl, { method: "POST", credentials: "same-origin" });
        if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
        this.token = await response.json();
      }
    }
    return this.token;
  }

  async call(method, path, body) {
    const token = await this.freshToken();
    const response = await fetch(this.api + path, {
      method,
      headers: { Authorization: `Bearer ${token.api_token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || `${method} ${path}: HTTP ${response.status}`);
    return data;
  }

  say(text, isError) {
    this.notice.textContent = text;
    this.notice.className = isError ? "notice error" : "notice";
  }

  async attempt(what, work) {
    try {
      return await work();
    } catch (error) {
      this.say(`${what}: ${error.message}`, true);
      return undefined;
    }
  }

  // --- live updates -------------------------------------------------------

  async start() {
    const first = await this.freshToken();
    this.centrifuge = new Centrifuge(first.websocket_url, {
      getToken: async () => {
        this.token = null;
        return (await this.freshToken()).token;
      },
      token: first.token,
    });
    const mine = this.centrifuge.newSubscription(first.channel);
    mine.on("publication", (ctx) => this.onCardEvent(ctx.data));
    // After a reconnect (or a reload) the screen is whatever the API says is open now.
    mine.on("subscribed", async () => {
      await this.restore();
      this.host.setAttribute("data-ready", "true"); // subscribed and restored: events from now on show
    });
    // The callback worklist, live: each change to a number's row comes on the agent's own channel.
    const work = this.centrifuge.newSubscription(first.callbacks_channel || `callbacks:#${this.agentId}`);
    work.on("publication", (ctx) => this.onRow(ctx.data));
    work.on("subscribed", () => this.loadMissed());
    const queues = this.centrifuge.newSubscription("queues:status");
    queues.on("publication", (ctx) => this.onLineStatus(ctx.data));
    queues.on("subscribed", () => this.loadLines());
    mine.subscribe();
    work.subscribe();
    queues.subscribe();
    this.centrifuge.on("connected", () => this.host.setAttribute("data-connected", "true"));
    this.centrifuge.on("disconnected", () => this.host.setAttribute("data-connected", "false"));
    this.centrifuge.connect();
  }

  async restore() {
    const shown = await this.attempt("Restoring your calls", () => this.call("GET", `/api/v1/agents/${this.agentId}/screen`));
    if (!shown) return;
    const open = new Set(shown.map((event) => event.call_id));
    for (const callId of [...this.calls.keys()]) if (!open.has(callId)) this.calls.delete(callId);
    for (const event of shown) this.calls.set(event.call_id, event);
    this.render();
  }

  onCardEvent(event) {
    if (!event || event.agent_id !== this.agentId) return; // never show another agent's card
    if (event.event === "ended" || event.event === "dismissed") {
      this.calls.delete(event.call_id);
      this.speakers.delete(event.call_id);
    } else if (event.event === "card") { // the card of a call already shown, found after it rang
      const known = this.calls.get(event.call_id);
      if (!known) return;
      this.calls.set(event.call_id, { ...known, card: event.card });
    } else {
      const known = this.calls.get(event.call_id);
      if (known && known.event === "answered" && event.event === "ringing") return; // late ringing
      this.calls.set(event.call_id, event);
    }
    this.render();
  }

  // --- lines ----------------------------------------------------------------

  async loadLines() {
    const lines = await this.attempt("Loading your lines", () => this.call("GET", `/api/v1/agents/${this.agentId}/lines`));
    if (!lines) return;
    for (const line of lines) {
      const known = this.lines.get(line.queue);
      if (!known || (line.seq || 0) >= (known.seq || 0)) this.lines.set(line.queue, line);
    }
    this.renderLines();
  }

  onLineStatus(status) {
    const line = this.lines.get(status.queue);
    if (!line || (line.seq && status.seq < line.seq)) return;
    if (line.pbx && status.pbx && line.pbx !== status.pbx) return; // a queue of that name on another PBX
    const me = line.interface && (status.members || []).find((member) => member.interface === line.interface);
    Object.assign(line, { free: status.free, on_line: status.on_line, seq: status.seq, known: true,
      me: { member: Boolean(me), paused: Boolean(me && me.paused) } });
    this.renderLines();
  }

  async chooseLine(line) {
    const result = await this.attempt("Switching line", () => this.call("PUT", `/api/v1/agents/${this.agentId}/line`, { line }));
    if (result) this.say(result.done.length ? result.done.join("; ") : "No change needed.");
    this.loadLines();
  }

  // --- the callback worklist ------------------------------------------------

  async loadMissed() {
    this.rowsLoading = [];
    const rows = await this.attempt("Loading missed calls", () => this.call("GET", "/api/v1/callbacks?limit=100"));
    const during = this.rowsLoading;
    this.rowsLoading = null;
    if (rows) this.rows = new Map(rows.map((row) => [row.number, row]));
    for (const change of during) this.applyRow(change);
    this.renderMissed();
  }

  onRow(change) {
    if (!change || change.event !== "row") return;
    if (this.rowsLoading) this.rowsLoading.push(change);
    else {
      this.applyRow(change);
      this.renderMissed();
    }
  }

  applyRow(change) {
    if (change.row) this.rows.set(change.number, change.row);
    else this.rows.delete(change.number);
  }

  async callBack(row) {
    const placed = await this.attempt("Call back", () => this.call("POST", `/api/v1/callbacks/${encodeURIComponent(row.number)}/call`, {}));
    if (placed) {
      this.say(`Calling you first, then ${row.display_number}.`);
      this.rows.delete(row.number);
      this.renderMissed();
    }
  }

  async allDone() {
    const result = await this.attempt("Marking done", () => this.call("POST", "/api/v1/callbacks:done", { all: true }));
    if (result) this.say(`${result.done} missed call(s) marked done.`);
    this.loadMissed();
  }

  // --- actions on a call ----------------------------------------------------

  async decline(event) {
    const result = await this.attempt("Decline", () => this.call("POST", `/api/v1/agents/${this.agentId}/calls/${encodeURIComponent(event.call_id)}/decline`));
    if (result) {
      // Asterisk hangs the leg up and the dismissal follows; the agent asked for it to go away now.
      this.calls.delete(event.call_id);
      this.say("Declined: the call goes to the next agent.");
      this.render();
    }
  }

  accountLink(event) {
    const account = ((event.card || {}).accounts || [])[0];
    if (!account) return null;
    return this.accountUrl ? this.accountUrl.replace("{account_id}", encodeURIComponent(account.id)) : account.crm_url || null;
  }

  openCard(event) {
    const url = this.accountLink(event);
    if (url) window.open(url, "_blank", "noopener");
  }

  async confirmSpeaker(event, name) {
    const result = await this.attempt("Who is speaking", () =>
      this.call("PUT", `/api/v1/calls/${encodeURIComponent(event.call_id)}/speaker`, { name }));
    if (result) {
      this.speakers.set(event.call_id, result.name);
      this.say(result.previous && result.previous !== result.name
        ? `Corrected: ${result.name} is speaking, not ${result.previous}.` : `Noted: ${result.name} is speaking.`);
      this.render();
    }
  }

  async flagDoNotCall(card, reason, note) {
    const number = card.e164 || card.number;
    const result = await this.attempt("Do not call", () =>
      this.call("PUT", `/api/v1/dnc/${encodeURIComponent(number)}`, { reason, note: note || undefined }));
    if (result) {
      card.do_not_call = { flagged: true, reason, by: result.flagged_by, since: result.flagged_at };
      this.say(`${number} is now on the do-not-call list.`);
      this.render();
    }
  }

  // --- rendering --------------------------------------------------------------

  build() {
    this.header = el("header", { class: "bar-top", "aria-label": "Caller card: lines" });
    this.notice = el("p", { class: "notice", role: "status", "aria-live": "polite" });
    this.popups = el("section", { class: "popups", "aria-label": "Incoming calls", "aria-live": "assertive" });
    this.missed = el("section", { class: "missed", "aria-label": "Missed calls" });
    this.panel = el("div", { class: "panel" }, this.header, this.notice, this.popups, this.missed);
    this.bottom = el("div", { class: "bottom", role: "status", "aria-live": "polite", hidden: true });
    this.root.append(this.panel, this.bottom);
  }

  renderLines() {
    const lines = [...this.lines.values()].sort((a, b) => a.line - b.line);
    const current = lines.find((line) => line.me && line.me.member && !line.me.paused);
    const choice = (value, label) =>
      el("button", {
        type: "button", class: "line-choice", "aria-pressed": String((current ? current.line : null) === value),
        onclick: () => this.chooseLine(value), text: label,
      });
    this.header.replaceChildren(
      el("div", { class: "counts" }, lines.map((line) =>
        el("span", { class: "count", "data-line": line.line, title: `queue ${line.queue}: free / on line`,
          text: `Line ${line.line}: ${line.known ? `${line.free}/${line.on_line}` : "?"}` }))),
      el("div", { class: "choices", role: "group", "aria-label": "Take calls on" },
        lines.map((line) => choice(line.line, `Line ${line.line}`)), choice(null, "Off")),
    );
  }

  claimOf(row) {
    const claim = row.claim;
    return claim && new Date(claim.until) > new Date() ? claim : null;
  }

  renderMissed() {
    const rows = [...this.rows.values()].sort((a, b) => String(b.last_missed_at).localeCompare(String(a.last_missed_at)));
    const time = (at) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const wait = (seconds) => (seconds === null || seconds === undefined ? "" : ` · longest wait ${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`);
    const items = rows.map((row) => {
      const claim = this.claimOf(row);
      const theirs = claim && claim.agent_id !== this.agentId;
      const when = row.missed > 1 ? `first ${time(row.first_missed_at)}, last ${time(row.last_missed_at)}` : time(row.last_missed_at);
      return el("li", { "data-number": row.number },
        el("div", { class: "row-main" },
          el("span", { class: "who", text: row.name || row.display_number }),
          row.name ? el("span", { class: "row-number", text: row.display_number }) : null,
          el("span", { class: "row-count", text: `${row.missed} missed` })),
        el("div", { class: "row-detail", text: `${when}${wait(row.longest_wait_seconds)}` }),
        theirs ? el("div", { class: "claimed", text: `${claim.agent_name} is calling back` }) : null,
        el("button", { type: "button", class: "callback", disabled: Boolean(theirs), "aria-label": `Call back ${row.display_number}`,
          title: theirs ? `${claim.agent_name} is calling back` : undefined, onclick: () => this.callBack(row), text: "Call back" }));
    });
    const parts = [el("h2", { text: `Missed calls (${rows.length})` })];
    if (rows.length) {
      parts.push(el("ul", {}, items), el("button", { type: "button", class: "all-done", onclick: () => this.allDone(), text: "Mark all done" }));
    } else parts.push(el("p", { class: "empty", text: "None." }));
    this.missed.replaceChildren(...parts);
    // A claim lapses without a message: redraw when the next one does.
    clearTimeout(this.claimTimer);
    const lapses = rows.map((row) => this.claimOf(row)).filter(Boolean).map((claim) => new Date(claim.until) - new Date());
    if (lapses.length) this.claimTimer = setTimeout(() => this.renderMissed(), Math.min(...lapses) + 50);
  }

  render() {
    const events = [...this.calls.values()];
    const ringing = events.filter((event) => event.event === "ringing");
    const answered = events.filter((event) => event.event === "answered");
    this.popups.replaceChildren(...ringing.map((event) => this.popup(event)), ...answered.map((event) => this.fullCard(event)));
    const onCall = answered[answered.length - 1];
    this.bottom.hidden = !onCall;
    this.bottom.replaceChildren(...(onCall ? [
      el("span", { class: "label", text: "On call with " }),
      el("strong", { class: "caller-name", text: this.nameOf(onCall) }),
      el("span", { class: "number", text: (onCall.card && onCall.card.number) || "" }),
    ] : []));
  }

  nameOf(event) {
    const card = event.card || {};
    if (event.event === "answered" && this.speakers.has(event.call_id)) return this.speakers.get(event.call_id);
    if (card.pending) return "Looking up the caller…";
    return card.display_name || "Unknown caller";
  }

  dncBadge(card) {
    const dnc = card && card.do_not_call;
    if (!dnc) return null;
    const since = dnc.since ? ` since ${String(dnc.since).slice(0, 10)}` : "";
    return el("p", { class: "dnc", role: "note", text: `Do not call: ${DNC_REASONS[dnc.reason] || dnc.reason}${since}${dnc.by ? ` (by ${dnc.by})` : ""}` });
  }

  // "Alexey (usually) · Nadezhda Petrovna": every name on the number, the most likely first.
  namesLine(card) {
    const heard = (card && card.heard) || [];
    const names = (card && card.names) || [];
    if (!heard.length || names.length < 2) return null;
    const hint = heard[0].hint ? ` (${heard[0].hint})` : "";
    return el("p", { class: "names", text: [`${names[0]}${hint}`, ...names.slice(1)].join(" · ") });
  }

  speakerForm(event) {
    const card = event.card || {};
    if (!card.e164) return null;
    const confirmed = this.speakers.get(event.call_id);
    const choices = [...(card.names || [])];
    if (confirmed && !choices.includes(confirmed)) choices.push(confirmed);
    const typed = el("input", { type: "text", "aria-label": "Another name the caller gave", placeholder: "another name", maxlength: "120" });
    return el("form", { class: "speaker", onsubmit: (e) => { e.preventDefault(); if (typed.value.trim()) this.confirmSpeaker(event, typed.value.trim()); } },
      el("fieldset", {},
        el("legend", { text: "Who is speaking?" }),
        el("div", { class: "speaker-choices" }, choices.map((name) => el("button", {
          type: "button", class: "speaker-choice", "aria-pressed": String(confirmed === name),
          onclick: () => this.confirmSpeaker(event, name), text: name }))),
        el("div", { class: "speaker-typed" }, typed, el("button", { type: "submit", class: "speaker-save", text: "Save name" }))));
  }

  accounts(card) {
    const accounts = (card && card.accounts) || [];
    if (!accounts.length) return null;
    return el("ul", { class: "accounts" }, accounts.map((a) => el("li", { text: `${a.holder} · ${a.id} · ${a.status}` })));
  }

  popup(event) {
    const card = event.card || {};
    const titleId = `cc-title-${event.call_id.replace(/\W/g, "_")}`;
    return el("article", { class: "popup", role: "alertdialog", "aria-labelledby": titleId, "data-call-id": event.call_id },
      el("h2", { id: titleId, class: "caller-name", text: this.nameOf(event) }),
      el("p", { class: "number", text: `${card.number || ""}${event.queue ? ` · ${event.queue}` : ""}` }),
      this.namesLine(card),
      this.accounts(card),
      this.dncBadge(card),
      el("div", { class: "buttons" },
        el("button", { type: "button", class: "open", "aria-label": `Open card of ${this.nameOf(event)}`, disabled: !this.accountLink(event),
          title: this.accountLink(event) ? undefined : "no customer account for this number", onclick: () => this.openCard(event), text: "Open card" }),
        el("button", { type: "button", class: "decline", "aria-label": "Decline: stop ringing me", onclick: () => this.decline(event), text: "Decline" })));
  }

  fullCard(event) {
    const card = event.card || {};
    const recent = card.recent_calls;
    const reason = el("select", { "aria-label": "Why not call this number" },
      Object.entries(DNC_REASONS).map(([value, label]) => el("option", { value, text: label })));
    const note = el("input", { type: "text", "aria-label": "Note (required for Other)", placeholder: "note" });
    return el("article", { class: "card", "aria-label": `Caller card: ${this.nameOf(event)}`, "data-call-id": event.call_id },
      el("h2", { class: "caller-name", text: this.nameOf(event) }),
      el("p", { class: "number", text: card.number || "" }),
      this.namesLine(card),
      this.accounts(card),
      this.speakerForm(event),
      recent ? el("p", { class: "recent", text: `${recent.count} earlier call(s); last ${String(recent.last_call_at).slice(0, 16).replace("T", " ")}: ${recent.last_outcome}` }) : null,
      this.dncBadge(card),
      card.e164 && !card.do_not_call ? el("form", { class: "dnc-form", onsubmit: (e) => { e.preventDefault(); this.flagDoNotCall(card, reason.value, note.value); } },
        reason, note, el("button", { type: "submit", class: "flag-dnc", text: "Do not call" })) : null);
  }
}

export function mount(options) {
  if (!options || !options.agentId) throw new Error("CallerCard.mount: agentId is required");
  if (!options.tokenUrl && !options.getToken) throw new Error("CallerCard.mount: tokenUrl or getToken is required");
  const widget = new Widget(options);
  widget.start();
  return widget;
}

if (typeof window !== "undefined") window.CallerCard = { mount };
