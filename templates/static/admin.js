// The admin page: create a collection, upload files into one and follow each file
// through the pipeline (POST /api/collections, POST /api/upload/{collection}: events).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  const form = $("new-collection");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = $("nc-status");
      const body = {
        name: $("nc-name").value.trim(),
        groups: $("nc-groups").value.split(",").map((g) => g.trim()).filter(Boolean),
        label: $("nc-label").value,
        redact_pii: $("nc-redact").checked,
      };
      const res = await fetch("/api/collections", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify(body),
      });
      if (res.ok) {
        window.location.reload();
      } else {
        const err = await res.json().catch(() => ({}));
        status.textContent = `Not created: ${err.detail || res.status}`;
      }
    });
  }

  const list = $("upload-list");
  const rows = new Map();

  function row(name) {
    if (!rows.has(name)) {
      const li = document.createElement("li");
      li.className = "upload-item";
      li.dataset.file = name;
      const title = document.createElement("span");
      title.className = "upload-name";
      title.textContent = name;
      const state = document.createElement("span");
      state.className = "upload-state";
      const reason = document.createElement("span");
      reason.className = "upload-reason muted";
      li.append(title, state, reason);
      list.append(li);
      rows.set(name, li);
    }
    return rows.get(name);
  }

  function show(event) {
    if (!event.file) return;
    const li = row(event.file);
    li.dataset.state = event.state;
    const words = {
      added: `added (${event.chunks} passage${event.chunks === 1 ? "" : "s"})`,
      changed: `replaced (${event.chunks} passage${event.chunks === 1 ? "" : "s"})`,
      duplicate: "already in the index",
      skipped: "unchanged",
      refused: "refused",
      quarantined: "quarantined",
      failed: "failed",
    };
    li.querySelector(".upload-state").textContent = words[event.state] || event.state;
    li.querySelector(".upload-reason").textContent = event.reason || "";
  }

  async function send(files) {
    const collection = $("up-collection").value;
    if (!collection || !files.length) return;
    const data = new FormData();
    for (const f of files) {
      data.append("files", f, f.name);
      const li = row(f.name);
      li.dataset.state = "sending";
      li.querySelector(".upload-state").textContent = "sending…";
    }
    const res = await fetch(`/api/upload/${encodeURIComponent(collection)}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
      body: data,
    });
    if (!res.ok || !res.body) {
      for (const f of files) show({ file: f.name, state: "failed", reason: `HTTP ${res.status}` });
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const line = block.split("\n").find((l) => l.startsWith("data:"));
        if (!line) continue;
        try {
          show(JSON.parse(line.slice(5).trim()));
        } catch {
          /* a malformed event is skipped; the next ones still show */
        }
      }
    }
  }

  const zone = $("dropzone");
  const input = $("up-input");
  if (zone && input) {
    input.addEventListener("change", () => send([...input.files]));
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("is-over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("is-over");
      send([...e.dataTransfer.files]);
    });
  }
})();
