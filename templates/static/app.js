/* The chat page: ask, stream the answer, show the sources as cards.
 *
 * Security rule for this file: every piece of text that comes from the server
 * (answers, document titles, paths, quotes, error details) is put into the page
 * with textContent / Text nodes. Never innerHTML, never insertAdjacentHTML.
 * Attributes set from server text are only plain ones (title, aria-label).
 *
 * Every string shown comes from the page's catalogue (assistant/server/catalogue.py),
 * in the page's language, rendered into the page as JSON (#i18n-strings): t(key, vars).
 * Text whose language is not the page's -- questions, answers, document titles and
 * quotes -- carries dir="auto", so Arabic runs right to left in an English page and
 * English left to right in an Arabic one.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const form = $("ask-form");
  const input = $("question");
  const sendBtn = $("send");
  const stopBtn = $("stop");
  const statusEl = $("status");
  const conv = $("conversation");
  const scroller = $("main");
  const emptyState = $("empty-state");
  const newChatBtn = $("new-chat");
  if (!form || !input || !conv) return;

  // -- strings in the page's language ------------------------------------------------
  const LOCALE = document.documentElement.lang || "en";
  const PAGE_DIR = document.documentElement.dir || "ltr";
  /** The JSON data the server rendered into <script type="application/json" id=…>. */
  function pageData(id) {
    const node = $(id);
    try {
      return node ? JSON.parse(node.textContent || "{}") : {};
    } catch {
      return {};
    }
  }
  const STRINGS = pageData("i18n-strings");
  const pluralRules = new Intl.PluralRules(LOCALE);
  // The server checks an answer against its sources when it ends (answering/grounding.py):
  // until then the streamed text is a draft, and looks like one.
  const CHECKED = Boolean(pageData("page-config").checked);

  /** The catalogue's string `key`, its {placeholders} filled from `vars`; a count `n`
   *  picks the plural form (CLDR categories: Arabic has zero, one, two, few, many). */
  function t(key, vars) {
    let entry = STRINGS[key];
    if (entry === undefined || entry === null) return key;
    if (typeof entry === "object") {
      const n = vars && vars.n !== undefined ? Number(vars.n) : Number.NaN;
      entry = (Number.isFinite(n) && entry[pluralRules.select(n)]) || entry.other || "";
    }
    return String(entry).replace(/\{(\w+)\}/g, (whole, name) =>
      vars && Object.hasOwn(vars, name) ? String(vars[name]) : whole,
    );
  }

  /** What the page says for an error `code` (assistant/errors.py), else the server's detail. */
  function errorText(code, detail) {
    const key = `error.${str(code)}`;
    return Object.hasOwn(STRINGS, key) ? t(key) : str(detail) || t("js.answer_failed");
  }

  const MAX_CHARS = 2000;
  const CITE = /\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]/g;
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  const state = {
    conversationId: null,
    controller: null,
    busy: false,
    turns: 0,
    countdown: null,
  };

  /** An error to show: `message` in the page's language, `detail` the server's words. */
  class UiError extends Error {
    constructor(message, detail) {
      super(message);
      this.detail = detail || "";
    }
  }

  // -- small DOM helpers (text only) -------------------------------------------
  /** Create an element. `props` are attributes (strings) plus `class`;
   *  children are nodes or strings (strings become Text nodes). */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child); // a string is inserted as a Text node, never parsed
    }
    return node;
  }

  const str = (v) => (v === null || v === undefined ? "" : String(v));

  function toInt(v) {
    const n = Number.parseInt(v, 10);
    return Number.isFinite(n) ? n : 0;
  }

  function basename(path) {
    const parts = str(path).split(/[\\/]/);
    return parts[parts.length - 1] || str(path);
  }

  // -- status line and busy state -------------------------------------------------
  function setStatus(text, kind) {
    if (state.countdown !== null) {
      clearInterval(state.countdown);
      state.countdown = null;
    }
    statusEl.textContent = text || "";
    statusEl.dataset.kind = kind || "";
  }

  function busyCountdown(seconds) {
    let left = seconds;
    setStatus(t("js.busy_retry", { seconds: left }), "error");
    state.countdown = setInterval(() => {
      left -= 1;
      if (left <= 0) {
        clearInterval(state.countdown);
        state.countdown = null;
        statusEl.textContent = t("js.ask_again");
        statusEl.dataset.kind = "";
      } else {
        statusEl.textContent = t("js.busy_retry", { seconds: left });
      }
    }, 1000);
  }

  function setBusy(busy) {
    state.busy = busy;
    sendBtn.disabled = busy;
    stopBtn.disabled = !busy;
    form.classList.toggle("is-busy", busy);
    form.setAttribute("aria-busy", String(busy));
    conv.setAttribute("aria-busy", String(busy));
    if (newChatBtn) newChatBtn.disabled = busy || state.turns === 0;
  }

  // -- scrolling -------------------------------------------------------------------
  const nearBottom = () =>
    scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 96;

  function keepAtBottom(wasNear) {
    if (wasNear) scroller.scrollTop = scroller.scrollHeight;
  }

  // -- a turn: question, answer, sources ------------------------------------------
  function createTurn(question) {
    const id = ++state.turns;
    if (emptyState) emptyState.hidden = true;

    // the answer's own direction: it is in the language of the question, not the page's
    const answerText = h("div", {
      class: "answer-text",
      dir: "auto",
      "data-searching": t("js.searching_documents"),
    });
    const answerLabel = h("div", { class: "answer-label", id: `a-label-${id}` }, t("js.answer"));
    const answer = h(
      "div",
      { class: "answer", id: `a-${id}`, "aria-labelledby": `a-label-${id}` },
      answerLabel,
      answerText,
    );
    const sourcesTitle = h("h3", { class: "sources-title", id: `s-${id}` }, t("js.sources"));
    const sourcesNote = h("p", { class: "sources-note" }, t("js.searching_documents"));
    const cards = h("ol", { class: "cards" });
    const sources = h(
      "aside",
      { class: "sources", "aria-labelledby": `s-${id}` },
      sourcesTitle,
      sourcesNote,
      cards,
    );
    const article = h(
      "article",
      { class: "turn", id: `turn-${id}`, "data-state": "searching", "aria-labelledby": `q-${id}` },
      h(
        "div",
        { class: "question", id: `q-${id}`, dir: "auto" },
        // its own dir: left out when the bubble's direction is taken from the question
        h("span", { class: "visually-hidden", dir: PAGE_DIR }, t("js.you_asked")),
        question,
      ),
      h("div", { class: "turn-body" }, answer, sources),
    );
    conv.append(article);
    article.scrollIntoView({ block: "start", behavior: reducedMotion.matches ? "auto" : "smooth" });
    if (newChatBtn) newChatBtn.disabled = true;

    return {
      id,
      article,
      answer,
      answerLabel,
      answerText,
      sources,
      sourcesTitle,
      sourcesNote,
      cards,
      byN: new Map(),
      text: "",
      waiting: false,
      done: false,
      started: performance.now(),
    };
  }

  function setTurnState(turn, value) {
    turn.article.dataset.state = value;
    turn.answer.classList.toggle("is-streaming", value === "answering");
    if (value === "answering" && CHECKED && !turn.answer.classList.contains("is-draft")) {
      // unchecked text: muted and labelled until the done event says it holds (or not);
      // a stopped or failed answer was never checked, and stays so
      turn.answer.classList.add("is-draft");
      turn.answerLabel.textContent = t("js.draft_label");
    }
  }

  // -- source cards -----------------------------------------------------------------
  function buildCard(turn, source) {
    const n = toInt(source.n);
    const file = basename(source.path);
    const title = str(source.document).trim() || file || t("js.untitled");

    // The card takes its direction from the document's title (dir="auto" below): the
    // page's own words inside it carry the page's dir, which dir="auto" passes over.
    const ui = { dir: PAGE_DIR };
    const badge = h("span", { class: "badge", hidden: true, ...ui }, t("js.cited"));
    const head = h(
      "div",
      { class: "card-head" },
      h("span", { class: "card-n", "aria-label": t("js.source_n", { n }) }, `[${n}]`),
      h("span", { class: "card-title" }, title),
      badge,
    );

    const meta = h("ul", { class: "card-meta", "aria-label": t("js.where_from") });
    if (file) meta.append(h("li", { class: "meta-file", title: str(source.path), dir: "auto" }, file));
    if (source.page !== null && source.page !== undefined && source.page !== "") {
      meta.append(h("li", { class: "meta-page", ...ui }, t("js.page", { page: str(source.page) })));
    }
    if (source.section !== null && source.section !== undefined && str(source.section).trim()) {
      const section = str(source.section);
      meta.append(h("li", { class: "meta-section", title: section, dir: "auto" }, section));
    }
    const score = Number(source.score);
    if (Number.isFinite(score)) {
      const fill = h("span", { class: "score-fill" });
      // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
      fill.style.width = `${Math.round(Math.max(0, Math.min(1, score)) * 100)}%`;
      meta.append(
        h(
          "li",
          { class: "meta-score", title: t("js.similarity"), ...ui },
          h("span", { class: "score-bar", "aria-hidden": "true" }, fill),
          t("js.score", { score: score.toFixed(2) }),
        ),
      );
    }

    const quote = h("blockquote", { class: "quote", dir: "auto" }, str(source.quote));
    const summary = h(
      "span",
      { class: "summary-text", "data-show": t("js.show"), "data-hide": t("js.hide"), ...ui },
      t("js.quote"),
    );
    const details = h("details", { class: "card-quote" }, h("summary", null, summary), quote);

    const card = h(
      "li",
      {
        class: "card",
        id: `src-${turn.id}-${n}`,
        "data-n": String(n),
        dir: "auto", // the document's direction: an Arabic source reads right to left
        tabindex: "-1",
        "aria-label": t("js.source_title", { n, title }),
      },
      head,
      meta,
      details,
    );
    card.dataset.title = title;
    card._badge = badge;
    card._quote = quote;
    return card;
  }

  /** Mark the sentence of a source that backs the answer (the server's grounding check):
   *  highlighted when the quote is opened. Text nodes only: no HTML. */
  function showEvidence(card, evidence) {
    const text = card._quote.textContent;
    const at = evidence ? text.indexOf(evidence) : -1;
    if (at < 0) return;
    card._quote.replaceChildren(
      document.createTextNode(text.slice(0, at)),
      h("mark", { class: "evidence", title: t("js.evidence") }, evidence),
      document.createTextNode(text.slice(at + evidence.length)),
    );
  }

  function showSources(turn, list) {
    const sources = Array.isArray(list) ? list : [];
    turn.cards.replaceChildren();
    turn.byN.clear();
    for (const source of sources) {
      const card = buildCard(turn, source);
      turn.byN.set(toInt(source.n), card);
      turn.cards.append(card);
    }
    turn.sourcesTitle.textContent = sources.length
      ? t("js.sources_n", { n: sources.length })
      : t("js.sources");
    turn.sourcesNote.textContent = sources.length ? t("js.passages_given") : t("js.no_passage");
  }

  // why a withheld answer was withheld (assistant/domain.py Answer.withheld_reason): the
  // catalogue key of its label or source note
  function withheldKey(answer, part) {
    const reason = { no_figure: "no_figure_", off_topic: "off_topic_" }[answer.withheld_reason];
    return `js.withheld_${reason || ""}${part}`;
  }

  function markCited(turn, answer) {
    const citations = Array.isArray(answer.citations) ? answer.citations : [];
    for (const c of citations) {
      const n = toInt(c.n);
      if (!turn.byN.has(n)) {
        const card = buildCard(turn, c);
        turn.byN.set(n, card);
        turn.cards.append(card);
      }
    }
    for (const c of citations) {
      if (c.evidence) showEvidence(turn.byN.get(toInt(c.n)), str(c.evidence));
    }
    const cited = new Set(citations.map((c) => toInt(c.n)));
    for (const [n, card] of turn.byN) {
      const isCited = cited.has(n);
      card.classList.toggle("is-cited", isCited);
      card.classList.toggle("is-uncited", !isCited);
      card._badge.hidden = !isCited;
    }
    const total = turn.byN.size;
    if (total === 0) return;
    if (answer.withheld) {
      turn.sourcesNote.textContent = t(withheldKey(answer, "note"));
    } else if (answer.refused) {
      turn.sourcesNote.textContent = t("js.refused_note");
    } else {
      const note = t("js.cited_of", { cited: cited.size, total });
      // the answer's tail stated facts no passage holds: it was cut (answering/grounding.py)
      turn.sourcesNote.textContent = answer.trimmed ? `${note} ${t("js.trimmed_note")}` : note;
    }
  }

  // -- answer text --------------------------------------------------------------------
  function citeLink(turn, n) {
    const card = turn.byN.get(n);
    const title = card ? card.dataset.title : "";
    return h(
      "a",
      {
        class: "cite",
        href: `#src-${turn.id}-${n}`,
        "data-turn": String(turn.id),
        "data-n": String(n),
        title: title ? t("js.source_title", { n, title }) : t("js.source_n", { n }),
      },
      `[${n}]`,
    );
  }

  /** Split the text on [n] markers and build Text nodes and links; markers that
   *  name no shown source stay as plain text. */
  function renderAnswerText(turn, text) {
    const frag = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(CITE)) {
      const numbers = match[1].split(/[,;]/).map((x) => toInt(x.trim()));
      if (!numbers.length || !numbers.every((n) => turn.byN.has(n))) continue;
      frag.append(document.createTextNode(text.slice(last, match.index)));
      numbers.forEach((n) => frag.append(citeLink(turn, n)));
      last = match.index + match[0].length;
    }
    frag.append(document.createTextNode(text.slice(last)));
    turn.answerText.replaceChildren(frag);
  }

  function appendToken(turn, piece) {
    if (!piece) return;
    const wasNear = nearBottom();
    turn.text += piece;
    turn.answerText.append(document.createTextNode(piece));
    keepAtBottom(wasNear);
  }

  /** Which model wrote the answer, under it; after a draft another model replaced, both. */
  function showModel(turn, answer) {
    const model = str(answer.model);
    if (!model) return; // refused before any model: nothing to name
    const tried = Array.isArray(answer.tried) ? answer.tried.map(str) : [];
    const earlier = tried.filter((name) => name && name !== model);
    const text = earlier.length
      ? t("js.model_after", { model, earlier: earlier.join(", ") })
      : t("js.model", { model });
    turn.answer.append(h("p", { class: "answer-model", title: t("js.model_title") }, text));
  }

  // -- feedback: thumbs up or down on one's own answer (POST /api/feedback) -------------
  function showFeedback(turn, answer) {
    const record = Number(answer.record);
    if (!Number.isInteger(record)) return; // not recorded: nothing to rate
    const note = h("span", { class: "feedback-note", role: "status" });
    const comment = h("textarea", {
      class: "feedback-comment",
      rows: "2",
      maxlength: "2000",
      dir: "auto",
      "aria-label": t("js.feedback_comment"),
      placeholder: t("js.feedback_comment"),
    });
    const send = h("button", { type: "button", class: "feedback-send" }, t("js.feedback_send"));
    const more = h("div", { class: "feedback-more", hidden: true }, comment, send);
    const up = h("button", { type: "button", class: "feedback-up", "aria-pressed": "false" },
      `👍 ${t("js.feedback_up")}`);
    const down = h("button", { type: "button", class: "feedback-down", "aria-pressed": "false" },
      `👎 ${t("js.feedback_down")}`);
    const box = h("div", { class: "feedback", "data-record": String(record) },
      h("span", { class: "feedback-ask" }, t("js.feedback_ask")), up, down, note, more);
    let rating = null;
    async function post(body) {
      const res = await fetch("/api/feedback", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ record, ...body }),
      });
      note.textContent = res.ok ? t("js.feedback_thanks") : t("js.feedback_failed");
      box.dataset.sent = res.ok ? String(body.rating) : "failed";
    }
    function rate(value) {
      rating = value;
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
      more.hidden = value !== "down";
      post({ rating: value }).catch(() => { note.textContent = t("js.feedback_failed"); });
    }
    up.addEventListener("click", () => rate("up"));
    down.addEventListener("click", () => rate("down"));
    send.addEventListener("click", () => {
      const text = comment.value.trim();
      if (!text || !rating) return;
      post({ rating, comment: text }).then(() => { more.hidden = true; })
        .catch(() => { note.textContent = t("js.feedback_failed"); });
    });
    turn.answer.append(box);
  }

  function finishTurn(turn, answer) {
    const wasNear = nearBottom();
    turn.done = true;
    turn.answer.classList.remove("is-draft");
    turn.answerLabel.textContent = t("js.answer");
    if (answer.conversation_id) state.conversationId = String(answer.conversation_id);
    markCited(turn, answer);
    const text = str(answer.answer);
    if (answer.language) turn.answerText.setAttribute("lang", str(answer.language));
    if (answer.refused) {
      turn.answer.classList.add("is-refused");
      turn.answerLabel.textContent = t(
        answer.withheld ? withheldKey(answer, "label") : "js.refused_label",
      );
      turn.answerText.replaceChildren(document.createTextNode(text));
    } else {
      renderAnswerText(turn, text);
    }
    showModel(turn, answer);
    showFeedback(turn, answer);
    setTurnState(turn, "done");
    const seconds = ((performance.now() - turn.started) / 1000).toFixed(1);
    const n = Array.isArray(answer.citations) ? answer.citations.length : 0;
    setStatus(
      answer.refused
        ? t("js.status_refused", { seconds })
        : t("js.status_answered", { seconds, n }),
      "",
    );
    keepAtBottom(wasNear);
  }

  function failTurn(turn, message, label, detail) {
    setTurnState(turn, "error");
    turn.answer.classList.add("is-error");
    turn.answerLabel.textContent = label || t("js.error_label");
    if (!turn.text) turn.answerText.replaceChildren(document.createTextNode(message));
    else turn.answer.append(h("p", { class: "answer-note" }, message));
    if (detail && detail !== message) {
      const words = t("js.details", { detail });
      turn.answer.append(h("p", { class: "answer-note answer-detail", dir: "auto" }, words));
    }
    if (!turn.byN.size) turn.sources.hidden = true;
  }

  function stopTurn(turn) {
    setTurnState(turn, "stopped");
    turn.answer.classList.add("is-stopped");
    if (!turn.text) {
      turn.answerText.replaceChildren(document.createTextNode(t("js.stopped_early")));
    }
    turn.answer.append(h("p", { class: "answer-note" }, t("js.stopped_note")));
    if (!turn.byN.size) turn.sources.hidden = true;
    setStatus(t("js.stopped"), "");
  }

  // -- the network -----------------------------------------------------------------------
  function retryAfterSeconds(res) {
    const raw = res.headers.get("Retry-After");
    if (!raw) return null;
    if (/^\s*\d+\s*$/.test(raw)) return Math.max(1, toInt(raw));
    const at = Date.parse(raw);
    return Number.isFinite(at) ? Math.max(1, Math.ceil((at - Date.now()) / 1000)) : null;
  }

  async function httpError(res) {
    let detail = "";
    let code = "";
    try {
      const body = await res.json();
      if (body && typeof body === "object") {
        detail = str(body.detail || body.error);
        code = str(body.error);
      }
    } catch {
      /* not JSON */
    }
    const message = code
      ? errorText(code, detail)
      : detail || t("js.server_answered", { status: res.status });
    const err = new UiError(message, detail);
    err.status = res.status;
    if (res.status === 503) err.retryAfter = retryAfterSeconds(res);
    return err;
  }

  /** Read a text/event-stream body: blocks separated by a blank line, each with
   *  `event:` and `data:` lines; `data` is JSON. Calls onEvent(name, data). */
  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let heldCR = false; // a "\r" at a chunk's end may be the first half of "\r\n"

    const dispatch = (block) => {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let parsed;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch {
        throw new UiError(t("js.bad_event"));
      }
      onEvent(name, parsed);
    };

    const drain = () => {
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(block);
      }
    };

    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      let chunk = (heldCR ? "\r" : "") + decoder.decode(value, { stream: true });
      heldCR = chunk.endsWith("\r");
      if (heldCR) chunk = chunk.slice(0, -1);
      buffer += chunk.replace(/\r\n?/g, "\n");
      drain();
    }
    buffer += (decoder.decode() + (heldCR ? "\r" : "")).replace(/\r\n?/g, "\n");
    drain();
    if (buffer.trim()) dispatch(buffer); // a last event without its blank line
    buffer = "";
  }

  function handleEvent(turn, name, data) {
    switch (name) {
      case "sources":
        showSources(turn, data);
        setTurnState(turn, "answering");
        setStatus(t("js.answering"), "progress");
        break;
      case "queue": {
        // The one model is busy with other questions: position 1 means "next".
        const position = toInt(data && data.position);
        if (position <= 0) break;
        const message =
          position === 1 ? t("js.queue_next") : t("js.queue_position", { position });
        turn.waiting = true;
        setTurnState(turn, "queued");
        turn.answerText.replaceChildren(h("span", { class: "waiting" }, message));
        setStatus(message, "progress");
        break;
      }
      case "retry": {
        // The answer so far was refused or withheld: it is dropped and the next, larger
        // model answers the same question from the same sources, or the same model answers
        // again, told which of its facts no source states.
        const model = str(data && data.model);
        const message =
          model && model === str(data && data.from)
            ? t("js.retry_same")
            : model
              ? t("js.retry_model", { model })
              : t("js.retry");
        turn.text = "";
        turn.waiting = true;
        setTurnState(turn, "retrying");
        turn.answerText.replaceChildren(h("span", { class: "waiting" }, message));
        setStatus(message, "progress");
        break;
      }
      case "token":
        if (turn.waiting) {
          turn.waiting = false;
          turn.answerText.replaceChildren();
        }
        if (turn.article.dataset.state !== "answering") {
          setTurnState(turn, "answering");
          setStatus(t("js.answering"), "progress");
        }
        appendToken(turn, str(data && data.text));
        break;
      case "done":
        finishTurn(turn, data || {});
        break;
      case "error": {
        const detail = str(data && (data.detail || data.error));
        const err = new UiError(errorText(data && data.error, detail), detail);
        err.fromStream = true;
        throw err;
      }
      default:
        break; // unknown events are ignored
    }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  async function ask(question) {
    const turn = createTurn(question);
    const controller = new AbortController();
    state.controller = controller;
    setBusy(true);
    setTurnState(turn, "searching");
    setStatus(t("js.searching"), "progress");

    try {
      const res = await fetch("/api/ask/stream", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          "X-CSRF-Token": csrfToken(),
        },
        body: JSON.stringify({ question, conversation_id: state.conversationId }),
        signal: controller.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      if (res.status === 401) {
        window.location.assign("/login?next=/");
        return;
      }
      if (!res.ok) throw await httpError(res);
      const type = res.headers.get("Content-Type") || "";
      if (type.includes("application/json")) {
        // Tolerate a plain JSON answer (the shape /api/ask returns).
        const body = await res.json();
        showSources(turn, body.citations);
        finishTurn(turn, body);
      } else {
        await readEvents(res, (name, data) => handleEvent(turn, name, data));
      }
      if (!turn.done) throw new UiError(t("js.interrupted"));
    } catch (err) {
      if (err && err.name === "AbortError") {
        stopTurn(turn);
      } else if (err instanceof UiError) {
        if (err.status === 503 && err.retryAfter) {
          const message = t("js.busy_retry", { seconds: err.retryAfter });
          failTurn(turn, `${message} ${err.message}`, t("js.busy_label"), err.detail);
          busyCountdown(err.retryAfter);
        } else {
          failTurn(turn, err.message, null, err.detail);
          setStatus(err.message, "error");
        }
        if (!input.value.trim()) {
          input.value = question; // let the user send it again
          autosize();
        }
      } else {
        const message = t("js.unreachable");
        failTurn(turn, message);
        setStatus(message, "error");
        if (!input.value.trim()) {
          input.value = question;
          autosize();
        }
      }
    } finally {
      if (state.controller === controller) state.controller = null;
      setBusy(false);
    }
  }

  // -- citations: highlight and open the card ----------------------------------------------
  function openSource(turnId, n) {
    const card = document.getElementById(`src-${turnId}-${n}`);
    if (!card) return;
    for (const other of conv.querySelectorAll(".card.is-active")) {
      if (other !== card) other.classList.remove("is-active");
    }
    card.classList.remove("is-flash");
    void card.offsetWidth; // restart the highlight animation
    card.classList.add("is-active", "is-flash");
    const details = card.querySelector("details");
    if (details) details.open = true;
    card.scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
    card.focus({ preventScroll: true });
  }

  conv.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a.cite") : null;
    if (!link) return;
    event.preventDefault();
    openSource(link.dataset.turn, link.dataset.n);
  });

  conv.addEventListener("animationend", (event) => {
    if (event.target instanceof Element) event.target.classList.remove("is-flash");
  });

  // -- the form ---------------------------------------------------------------------------------
  function autosize() {
    if (!input.value) {
      input.style.height = ""; // the stylesheet's one-line height, whatever the placeholder
      return;
    }
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.busy) return;
    const question = input.value.trim();
    if (!question) {
      setStatus(t("js.type_first"), "error");
      input.focus();
      return;
    }
    if (question.length > MAX_CHARS) {
      setStatus(t("js.too_long", { max: MAX_CHARS }), "error");
      return;
    }
    input.value = "";
    autosize();
    ask(question);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      if (!state.busy) form.requestSubmit();
    } else if (event.key === "Escape" && state.busy && state.controller) {
      event.preventDefault();
      state.controller.abort();
    }
  });

  input.addEventListener("input", autosize);

  stopBtn.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    input.focus();
  });

  if (newChatBtn) {
    newChatBtn.addEventListener("click", () => {
      if (state.busy) return;
      state.conversationId = null;
      for (const turn of conv.querySelectorAll(".turn")) turn.remove();
      state.turns = 0;
      if (emptyState) emptyState.hidden = false;
      newChatBtn.disabled = true;
      setStatus(t("js.new_conversation"), "");
      input.focus();
    });
  }

  // -- saved conversations: list, reopen, rename, delete (/api/conversations) -----------
  const historyToggle = $("history-toggle");
  const historyPanel = $("history");
  const historyList = $("history-list");
  const historyEmpty = $("history-empty");

  async function historyCall(path, options = {}) {
    const res = await fetch(`/api/conversations${path}`, {
      credentials: "same-origin",
      ...options,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    });
    if (!res.ok) throw new UiError(t("js.history_failed"));
    return res.status === 204 ? null : res.json();
  }

  async function reopen(id) {
    if (state.busy) return;
    const saved = await historyCall(`/${encodeURIComponent(id)}`);
    for (const turn of conv.querySelectorAll(".turn")) turn.remove();
    state.turns = 0;
    for (const past of saved.turns || []) {
      const turn = createTurn(str(past.question));
      showSources(turn, Array.isArray(past.sources) ? past.sources : []);
      finishTurn(turn, past.answer || {});
    }
    state.conversationId = String(saved.id);
    if (newChatBtn) newChatBtn.disabled = false;
    setStatus(t("js.history_reopened"), "");
    input.focus();
  }

  async function showHistory() {
    const items = await historyCall("/");
    historyList.replaceChildren();
    historyEmpty.hidden = items.length > 0;
    for (const item of items) {
      const id = String(item.id);
      const title = h("button", { type: "button", class: "history-open", dir: "auto" },
        str(item.title));
      const rename = h("button", { type: "button", class: "history-rename btn-ghost" },
        t("js.history_rename"));
      const remove = h("button", { type: "button", class: "history-delete btn-ghost" },
        t("js.history_delete"));
      const li = h("li", { class: "history-item", "data-id": id }, title, rename, remove);
      title.addEventListener("click", () => reopen(id).catch(showError));
      rename.addEventListener("click", async () => {
        const name = window.prompt(t("js.history_rename_prompt"), str(item.title));
        if (!name || !name.trim()) return;
        await historyCall(`/${encodeURIComponent(id)}`, {
          method: "PATCH", body: JSON.stringify({ title: name }),
        }).catch(showError);
        title.textContent = name.trim();
      });
      remove.addEventListener("click", async () => {
        if (!window.confirm(t("js.history_delete_confirm"))) return;
        await historyCall(`/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(showError);
        li.remove();
        if (state.conversationId === id && newChatBtn) newChatBtn.click();
        historyEmpty.hidden = historyList.children.length > 0;
      });
      historyList.append(li);
    }
  }

  function showError(err) {
    setStatus(err instanceof UiError ? err.message : t("js.history_failed"), "error");
  }

  if (historyToggle && historyPanel) {
    historyToggle.addEventListener("click", () => {
      const open = historyPanel.hidden;
      historyPanel.hidden = !open;
      historyToggle.setAttribute("aria-expanded", String(open));
      if (open) showHistory().catch(showError);
    });
  }

  // -- the page's language: the user's own setting, kept on the server ------------------
  const languageSwitch = $("language-switch");
  if (languageSwitch) {
    languageSwitch.addEventListener("click", async () => {
      if (state.busy) return;
      try {
        const res = await fetch("/api/preferences", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ language: languageSwitch.dataset.language || null }),
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!res.ok) throw await httpError(res);
        window.location.reload();
      } catch {
        setStatus(t("js.language_failed"), "error");
      }
    });
  }

  const signout = $("signout-form");
  if (signout) {
    // Sign-out is a write: send it with the session's CSRF token.
    signout.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await fetch("/logout", {
          method: "POST",
          headers: { "X-CSRF-Token": csrfToken() },
          credentials: "same-origin",
          redirect: "manual",
        });
      } finally {
        window.location.assign("/login");
      }
    });
  }

  setBusy(false);
  autosize();
  document.documentElement.classList.add("js-ready");
})();
