/* The chat page: ask, stream the answer, show the sources as cards.
 *
 * Security rule for this file: every piece of text that comes from the server
 * (answers, document titles, paths, quotes, error details) is put into the page
 * with textContent / Text nodes. Never innerHTML, never insertAdjacentHTML.
 * Attributes set from server text are only plain ones (title, aria-label).
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

  class UiError extends Error {}

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
    setStatus(`Busy, retry in ${left} s.`, "error");
    state.countdown = setInterval(() => {
      left -= 1;
      if (left <= 0) {
        clearInterval(state.countdown);
        state.countdown = null;
        statusEl.textContent = "You can ask again now.";
        statusEl.dataset.kind = "";
      } else {
        statusEl.textContent = `Busy, retry in ${left} s.`;
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

    const answerText = h("div", { class: "answer-text" });
    const answerLabel = h("div", { class: "answer-label", id: `a-label-${id}` }, "Answer");
    const answer = h(
      "div",
      { class: "answer", id: `a-${id}`, "aria-labelledby": `a-label-${id}` },
      answerLabel,
      answerText,
    );
    const sourcesTitle = h("h3", { class: "sources-title", id: `s-${id}` }, "Sources");
    const sourcesNote = h("p", { class: "sources-note" }, "Searching the documents…");
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
        { class: "question", id: `q-${id}` },
        h("span", { class: "visually-hidden" }, "You asked: "),
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
  }

  // -- source cards -----------------------------------------------------------------
  function buildCard(turn, source) {
    const n = toInt(source.n);
    const file = basename(source.path);
    const title = str(source.document).trim() || file || "Untitled document";

    const badge = h("span", { class: "badge", hidden: true }, "Cited");
    const head = h(
      "div",
      { class: "card-head" },
      h("span", { class: "card-n", "aria-label": `Source ${n}` }, `[${n}]`),
      h("span", { class: "card-title" }, title),
      badge,
    );

    const meta = h("ul", { class: "card-meta", "aria-label": "Where it comes from" });
    if (file) meta.append(h("li", { class: "meta-file", title: str(source.path) }, file));
    if (source.page !== null && source.page !== undefined && source.page !== "") {
      meta.append(h("li", { class: "meta-page" }, `page ${str(source.page)}`));
    }
    if (source.section !== null && source.section !== undefined && str(source.section).trim()) {
      const section = str(source.section);
      meta.append(h("li", { class: "meta-section", title: section }, section));
    }
    const score = Number(source.score);
    if (Number.isFinite(score)) {
      const fill = h("span", { class: "score-fill" });
      // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
      fill.style.width = `${Math.round(Math.max(0, Math.min(1, score)) * 100)}%`;
      meta.append(
        h(
          "li",
          { class: "meta-score", title: "Similarity to the question (0 to 1)" },
          h("span", { class: "score-bar", "aria-hidden": "true" }, fill),
          `score ${score.toFixed(2)}`,
        ),
      );
    }

    const quote = h("blockquote", { class: "quote" }, str(source.quote));
    const details = h(
      "details",
      { class: "card-quote" },
      h("summary", null, h("span", { class: "summary-text" }, "Quote")),
      quote,
    );

    const card = h(
      "li",
      {
        class: "card",
        id: `src-${turn.id}-${n}`,
        "data-n": String(n),
        tabindex: "-1",
        "aria-label": `Source ${n}: ${title}`,
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
      h("mark", { class: "evidence", title: "The sentence that backs the answer" }, evidence),
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
    turn.sourcesTitle.textContent = sources.length ? `Sources (${sources.length})` : "Sources";
    turn.sourcesNote.textContent = sources.length
      ? "Passages given to the model."
      : "No passage in the documents matched the question.";
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
      turn.sourcesNote.textContent = "The model's answer stated facts these passages do not hold.";
    } else if (answer.refused) {
      turn.sourcesNote.textContent = "None of these passages answers the question.";
    } else {
      turn.sourcesNote.textContent = `${cited.size} of ${total} cited in the answer.`;
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
        title: title ? `Source ${n}: ${title}` : `Source ${n}`,
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
    const text = earlier.length ? `Model: ${model} (after ${earlier.join(", ")})` : `Model: ${model}`;
    turn.answer.append(h("p", { class: "answer-model", title: "The model that wrote this answer" }, text));
  }

  function finishTurn(turn, answer) {
    const wasNear = nearBottom();
    turn.done = true;
    if (answer.conversation_id) state.conversationId = String(answer.conversation_id);
    markCited(turn, answer);
    const text = str(answer.answer);
    if (answer.refused) {
      turn.answer.classList.add("is-refused");
      turn.answerLabel.textContent = answer.withheld
        ? "Withheld: not backed by the documents"
        : "Not found in the documents";
      turn.answerText.replaceChildren(document.createTextNode(text));
    } else {
      renderAnswerText(turn, text);
    }
    showModel(turn, answer);
    setTurnState(turn, "done");
    const seconds = ((performance.now() - turn.started) / 1000).toFixed(1);
    const n = Array.isArray(answer.citations) ? answer.citations.length : 0;
    setStatus(
      answer.refused
        ? `No answer found in the documents (${seconds} s).`
        : `Answered in ${seconds} s · ${n} source${n === 1 ? "" : "s"} cited.`,
      "",
    );
    keepAtBottom(wasNear);
  }

  function failTurn(turn, message, label) {
    setTurnState(turn, "error");
    turn.answer.classList.add("is-error");
    turn.answerLabel.textContent = label || "Something went wrong";
    if (!turn.text) turn.answerText.replaceChildren(document.createTextNode(message));
    else turn.answer.append(h("p", { class: "answer-note" }, message));
    if (!turn.byN.size) turn.sources.hidden = true;
  }

  function stopTurn(turn) {
    setTurnState(turn, "stopped");
    turn.answer.classList.add("is-stopped");
    if (!turn.text) {
      turn.answerText.replaceChildren(document.createTextNode("Stopped before the answer started."));
    }
    turn.answer.append(h("p", { class: "answer-note" }, "Stopped. The answer may be incomplete."));
    if (!turn.byN.size) turn.sources.hidden = true;
    setStatus("Stopped.", "");
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
    try {
      const body = await res.json();
      if (body && typeof body === "object") detail = str(body.detail || body.error);
    } catch {
      /* not JSON */
    }
    const err = new UiError(detail || `The server answered ${res.status} ${res.statusText}`.trim());
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
        throw new UiError("The server sent an event that could not be read.");
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
        setStatus("Answering…", "progress");
        break;
      case "queue": {
        // The one model is busy with other questions: position 1 means "next".
        const position = toInt(data && data.position);
        if (position <= 0) break;
        const message =
          position === 1
            ? "Waiting for the model: your question is next…"
            : `Waiting for the model: your question is number ${position} in the queue…`;
        turn.waiting = true;
        setTurnState(turn, "queued");
        turn.answerText.replaceChildren(h("span", { class: "waiting" }, message));
        setStatus(message, "progress");
        break;
      }
      case "retry": {
        // The answer so far was refused or withheld: it is dropped and the next, larger
        // model answers the same question from the same sources.
        const model = str(data && data.model);
        const message = model
          ? `Checking with a larger model (${model})…`
          : "Checking with a larger model…";
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
          setStatus("Answering…", "progress");
        }
        appendToken(turn, str(data && data.text));
        break;
      case "done":
        finishTurn(turn, data || {});
        break;
      case "error": {
        const err = new UiError(str(data && (data.detail || data.error)) || "The answer failed.");
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
    setStatus("Searching…", "progress");

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
      if (!turn.done) throw new UiError("The answer was interrupted. Please ask again.");
    } catch (err) {
      if (err && err.name === "AbortError") {
        stopTurn(turn);
      } else if (err instanceof UiError) {
        if (err.status === 503 && err.retryAfter) {
          failTurn(turn, `Busy, retry in ${err.retryAfter} s. ${err.message}`.trim(), "Busy");
          busyCountdown(err.retryAfter);
        } else {
          failTurn(turn, err.message);
          setStatus(err.message, "error");
        }
        if (!input.value.trim()) {
          input.value = question; // let the user send it again
          autosize();
        }
      } else {
        const message = "Could not reach the assistant. Check the connection and try again.";
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
      setStatus("Type a question first.", "error");
      input.focus();
      return;
    }
    if (question.length > MAX_CHARS) {
      setStatus(`The question is longer than ${MAX_CHARS} characters.`, "error");
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
      setStatus("New conversation.", "");
      input.focus();
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
