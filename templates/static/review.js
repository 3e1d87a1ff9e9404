/* The review and admin pages: sign-out, export downloads, and the verification status.
 *
 * Same rule as app.js: text from the server goes in with textContent only.
 * Exports and "verify now" are POSTs (an export is recorded in the audit log),
 * sent with the session's CSRF token; the file is saved from the response.
 */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  async function post(url) {
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken() },
      credentials: "same-origin",
      cache: "no-store",
    });
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      return body.detail || body.error || `HTTP ${res.status}`;
    } catch {
      return `HTTP ${res.status}`;
    }
  }

  // -- sign out ------------------------------------------------------------------
  const signout = $("signout-form");
  if (signout) {
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

  // -- exports: the filters of this page, as CSV or JSONL -------------------------
  const exportStatus = $("export-status");

  function filenameOf(res, format) {
    const header = res.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : `audit-export.${format}`;
  }

  async function exportAs(button) {
    const format = button.dataset.format;
    const params = new URLSearchParams(window.location.search);
    params.delete("before");
    params.delete("after");
    params.set("format", format);
    button.disabled = true;
    exportStatus.textContent = "Exporting…";
    try {
      const res = await post(`/review/export?${params.toString()}`);
      if (res.status === 401) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
        return;
      }
      if (!res.ok) {
        exportStatus.textContent = `Export refused: ${await errorText(res)}`;
        return;
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = filenameOf(res, format);
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      exportStatus.textContent = `Saved ${link.download} (the export is recorded in the audit log).`;
    } catch (err) {
      exportStatus.textContent = `Export failed: ${err && err.message ? err.message : err}`;
    } finally {
      button.disabled = false;
    }
  }

  for (const id of ["export-csv", "export-jsonl"]) {
    const button = $(id);
    if (button && exportStatus) button.addEventListener("click", () => exportAs(button));
  }

  // -- verification status ---------------------------------------------------------
  const box = $("verify-status");
  if (!box) return;
  const text = $("verify-text");
  const whenEl = $("verify-when");
  const verifyNow = $("verify-now");

  const when = (ts) => (ts && ts.length >= 19 ? `${ts.slice(0, 10)} ${ts.slice(11, 19)} UTC` : "");
  const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;

  function show(status) {
    box.dataset.state = status.state;
    box.dataset.running = status.running ? "true" : "false";
    box.className = `verify verify-${status.state}`;
    if (status.state === "ok") {
      const warned = status.warnings.length ? ` (${plural(status.warnings.length, "warning")})` : "";
      text.textContent = `✓ Log verified: ${plural(status.records, "record")}, ${plural(status.checkpoints, "checkpoint")}${warned}`;
    } else if (status.state === "failed") {
      text.textContent = `✗ Verification failed: ${plural(status.problems.length, "problem")}`;
    } else if (status.state === "error") {
      text.textContent = "✗ Verification could not run";
    } else {
      text.textContent = "Verifying the log…";
    }
    let note = status.checked_at ? `checked ${when(status.checked_at)}` : "";
    if (status.running && status.checked_at) note += " · re-checking…";
    whenEl.textContent = note;
    if (status.problems.length) box.title = status.problems.join("\n");
  }

  let timer = null;
  async function poll() {
    timer = null;
    try {
      const res = await fetch("/review/status", { credentials: "same-origin", cache: "no-store" });
      if (!res.ok) return;
      const status = await res.json();
      show(status);
      if (status.running) timer = setTimeout(poll, 2000);
    } catch {
      // the server is away: keep what is shown
    }
  }

  if (box.dataset.running === "true") timer = setTimeout(poll, 1000);

  if (verifyNow) {
    verifyNow.addEventListener("click", async () => {
      verifyNow.disabled = true;
      try {
        const res = await post("/review/verify");
        if (res.ok) show(await res.json());
        if (timer === null) timer = setTimeout(poll, 1000);
      } finally {
        verifyNow.disabled = false;
      }
    });
  }
})();
