/* foliosync web UI: small progressive enhancements. Every page works without this file; with it,
   times read in your locale, tables sort, slow actions (sync, connect, link) show live progress,
   and the price chart has a hover read-out. No framework, no build step, no network but our own. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // --- helpers ----------------------------------------------------------------------------------

  function errorText(data, status) {
    if (!data) return "The server answered " + status + ".";
    if (typeof data.message === "string") return data.message;
    if (Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
    if (typeof data.detail === "string") return data.detail;
    return "The server answered " + status + ".";
  }

  async function api(method, url, body) {
    const headers = { Accept: "application/json", "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error(errorText(data, response.status));
      error.hint = data && data.hint;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* Poll `fetchOnce` until `done(result)`; waits 1 s, then 2, 3, 4 and 5 s between calls (the
     job usually finishes quickly; a slow one should not be hammered). */
  async function poll(fetchOnce, done, onTick, limitMs) {
    const started = Date.now();
    let attempt = 0;
    for (;;) {
      const result = await fetchOnce();
      if (onTick) onTick(result, Math.round((Date.now() - started) / 1000));
      if (done(result)) return result;
      if (Date.now() - started > (limitMs || 15 * 60 * 1000)) {
        throw new Error("Still not finished after a long wait. Reload the page later to see how it ended.");
      }
      attempt += 1;
      await sleep(Math.min(5000, 1000 * attempt));
    }
  }

  function say(element, text, tone) {
    if (!element) return;
    element.textContent = text;
    element.dataset.tone = tone || "";
    element.classList.toggle("loss", tone === "error");
    element.classList.toggle("gain", tone === "ok");
  }

  function describeError(error) {
    return error.hint ? error.message + " " + error.hint : error.message;
  }

  // --- local times, confirmations, busy buttons, auto-submit ---------------------------------------

  function localizeTimes(root) {
    root.querySelectorAll("time[data-local]").forEach((el) => {
      const moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment)) {
        el.title = el.textContent;
        el.textContent = moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      }
    });
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) return;
    const button = form.querySelector("button[data-busy]");
    if (button) {
      setTimeout(() => {
        button.textContent = button.dataset.busy;
        button.setAttribute("aria-busy", "true");
        button.disabled = true;
      }, 0);
    }
  });

  document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // --- sortable tables -----------------------------------------------------------------------------

  function cellValue(row, index, numeric) {
    const cell = row.children[index];
    if (!cell) return numeric ? -Infinity : "";
    const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    const number = parseFloat(raw);
    return isNaN(number) ? -Infinity : number;
  }

  function makeSortable(table) {
    const headers = table.querySelectorAll("thead th[data-sort]");
    headers.forEach((header) => {
      header.tabIndex = 0;
      const sort = () => {
        const numeric = header.dataset.sort === "num";
        const ascending = header.getAttribute("aria-sort") === "descending" ||
          (!header.hasAttribute("aria-sort") && !numeric);
        headers.forEach((h) => h.removeAttribute("aria-sort"));
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const index = header.cellIndex;
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = cellValue(a, index, numeric);
          const y = cellValue(b, index, numeric);
          if (x === y) return 0;
          return (x < y ? -1 : 1) * (ascending ? 1 : -1);
        });
        rows.forEach((row) => body.appendChild(row));
      };
      header.addEventListener("click", sort);
      header.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sort();
        }
      });
    });
  }

  // --- settings: sync now ------------------------------------------------------------------------

  const SYNC_WORDS = { QUEUED: "Queued", RUNNING: "Syncing", SUCCESS: "Synced", PARTIAL: "Partly synced", FAILED: "Sync failed" };

  function rowsWritten(counts) {
    let inserted = 0;
    let updated = 0;
    Object.keys(counts || {}).forEach((table) => {
      if (table === "instruments") return;
      inserted += counts[table].inserted || 0;
      updated += counts[table].updated || 0;
    });
    return inserted + " new, " + updated + " updated";
  }

  async function refreshAccountCard(accountId, message, tone) {
    const response = await fetch("/settings", { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("account-" + accountId);
    const current = document.getElementById("account-" + accountId);
    if (!fresh || !current) return;
    current.replaceWith(fresh);
    enhance(fresh);
    say(fresh.querySelector("[data-live]"), message, tone);
  }

  function enhanceSync(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const card = form.closest("[data-account-id]");
      const live = card && card.querySelector("[data-live]");
      const button = form.querySelector("button");
      const id = form.dataset.account;
      button.disabled = true;
      say(live, "Asking for a sync…");
      try {
        const started = await api("POST", "/api/v1/accounts/" + id + "/sync");
        if (started.already_running) say(live, "A sync was already running; following it…");
        const final = await poll(
          () => api("GET", "/api/v1/accounts/" + id + "/syncs/" + started.sync_id),
          (s) => s.status !== "QUEUED" && s.status !== "RUNNING",
          (s, seconds) => say(live, (SYNC_WORDS[s.status] || s.status) + "… " + seconds + " s"),
        );
        let text;
        let tone;
        if (final.status === "SUCCESS") {
          text = "Synced: " + rowsWritten(final.counts) + " rows.";
          tone = "ok";
        } else if (final.status === "PARTIAL") {
          text = "Partly synced (" + rowsWritten(final.counts) + "): " + (final.warnings || []).join("; ");
          tone = "error";
        } else {
          text = "Sync failed: " + (final.error_message || final.error_class || "no reason recorded");
          tone = "error";
        }
        await refreshAccountCard(id, text, tone);
      } catch (error) {
        say(live, describeError(error), "error");
        button.disabled = false;
      }
    });
  }

  // --- settings: OAuth link (Schwab) ---------------------------------------------------------------

  function enhanceLink(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const live = form.querySelector("[data-live]") ||
        (form.closest("[data-account-id]") || form).querySelector("[data-live]");
      const button = form.querySelector("button");
      const accountId = form.dataset.account ? parseInt(form.dataset.account, 10) : null;
      // Open the tab now, inside the click, so popup blockers allow it; it is pointed at the
      // broker's login page once the server has issued the signed state.
      const tab = window.open("", "_blank");
      button.disabled = true;
      say(live, "Preparing the link…");
      try {
        // A re-link of a connected account is done when its link renews, not merely CONNECTED.
        const before = accountId === null ? null : await api("GET", "/api/v1/accounts/" + accountId);
        const link = await api("POST", "/api/v1/aggregator/" + form.dataset.broker + "/link", {
          account_id: accountId,
          trading: false,
        });
        if (tab) {
          tab.opener = null;
          tab.location.href = link.authorization_url;
          say(live, "Log in and allow access in the new tab; this page updates when you are done.");
        } else {
          live.textContent = "";
          const a = document.createElement("a");
          a.href = link.authorization_url;
          a.target = "_blank";
          a.rel = "noopener";
          a.textContent = "Open the login page";
          live.append("Your browser blocked the new tab. ", a, " and allow access; this page updates when you are done.");
        }
        await poll(
          () => api("GET", "/api/v1/accounts/" + link.account_id),
          (account) => account.status === "CONNECTED" && !account.needs_reauth &&
            (before === null || before.status !== "CONNECTED" || account.reauth_due_at !== before.reauth_due_at),
          null,
          10 * 60 * 1000,
        );
        say(live, "Connected ✓", "ok");
        window.location.assign("/settings?linked=" + link.account_id + "#account-" + link.account_id);
      } catch (error) {
        if (tab && !tab.closed && tab.location.href === "about:blank") tab.close();
        say(live, describeError(error), "error");
        button.disabled = false;
      }
    });
  }

  // --- settings: connect job (TastyTrade) ------------------------------------------------------------

  function enhanceConnect(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const broker = form.dataset.connect;
      const progress = form.querySelector("[data-progress]");
      const text = progress.querySelector(".progress-text");
      const button = form.querySelector('button[type="submit"]');
      const body = {};
      form.querySelectorAll("input[data-field]").forEach((input) => {
        body[input.dataset.field] = input.value.trim();
      });
      progress.hidden = false;
      progress.classList.remove("done", "failed");
      button.disabled = true;
      say(text, "Checking your credentials…");
      try {
        const job = await api("POST", "/api/v1/aggregator/" + broker + "/connect", body);
        // The secrets now live encrypted on the server; do not keep them in the page.
        form.querySelectorAll("input[data-field]").forEach((input) => {
          if (input.type === "password") input.value = "";
        });
        const final = await poll(
          () => api("GET", "/api/v1/aggregator/" + broker + "/status?job_id=" + encodeURIComponent(job.job_id)),
          (s) => s.status !== "pending",
          (s, seconds) => {
            if (s.status === "pending") say(text, (s.message || "Connecting and discovering your accounts") + "… " + seconds + " s");
          },
        );
        if (final.status === "success") {
          progress.classList.add("done");
          const names = (final.accounts || []).map((a) => a.alias + " (" + a.external_account_id + ")");
          say(text, "Connected " + names.length + " account" + (names.length === 1 ? "" : "s") + ": " + names.join(", ") + ".", "ok");
          // A new query string makes this a real navigation (a bare #fragment would not reload).
          setTimeout(() => window.location.assign("/settings?connected=" + encodeURIComponent(broker) + "#accounts"), 1200);
        } else {
          progress.classList.add("failed");
          say(text, (final.message || "Connecting failed.") + (final.hint ? " " + final.hint : ""), "error");
          button.disabled = false;
        }
      } catch (error) {
        progress.classList.add("failed");
        say(text, describeError(error), "error");
        button.disabled = false;
      }
    });
  }

  // --- scanner -------------------------------------------------------------------------------------

  function enhanceScanner(form) {
    const expression = form.querySelector("textarea[data-expression-input]");
    const preset = form.querySelector("[data-preset-select]");
    if (preset && expression) {
      preset.addEventListener("change", () => {
        const option = preset.selectedOptions[0];
        if (preset.value) {
          expression.value = "";
          expression.placeholder = option.dataset.expression || "";
        }
      });
    }
    form.querySelectorAll("[data-insert]").forEach((chip) => {
      chip.addEventListener("click", () => {
        if (!expression) return;
        const start = expression.selectionStart || expression.value.length;
        const end = expression.selectionEnd || start;
        const word = chip.dataset.insert;
        expression.value = expression.value.slice(0, start) + word + expression.value.slice(end);
        expression.focus();
        expression.selectionStart = expression.selectionEnd = start + word.length;
        if (preset) preset.value = "";
      });
    });
  }

  // --- price chart read-out -------------------------------------------------------------------------

  function enhancePriceChart(svg) {
    const series = JSON.parse(svg.dataset.series || "[]");
    if (!series.length) return;
    const box = svg.viewBox.baseVal;
    const left = parseFloat(svg.dataset.left);
    const plotWidth = parseFloat(svg.dataset.plotWidth);
    const top = parseFloat(svg.dataset.top);
    const plotHeight = parseFloat(svg.dataset.plotHeight);
    const yMin = parseFloat(svg.dataset.yMin);
    const yMax = parseFloat(svg.dataset.yMax);
    const k = parseFloat(svg.dataset.k);
    const ns = "http://www.w3.org/2000/svg";
    const line = document.createElementNS(ns, "line");
    line.setAttribute("class", "hover-line");
    line.setAttribute("y1", top);
    line.setAttribute("y2", top + plotHeight);
    line.style.display = "none";
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("class", "price-dot");
    dot.setAttribute("r", "4");
    dot.style.display = "none";
    svg.append(line, dot);
    const tip = document.createElement("div");
    tip.className = "chart-tip";
    tip.hidden = true;
    svg.parentElement.append(tip);
    const y = (value) => top + plotHeight * (1 - (value - yMin) / (yMax - yMin));
    const fmt = (v) => v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

    svg.addEventListener("pointermove", (event) => {
      const rect = svg.getBoundingClientRect();
      const x = ((event.clientX - rect.left) / rect.width) * box.width;
      const i = Math.max(0, Math.min(series.length - 1, Math.round(((x - left) / plotWidth) * (series.length - 1))));
      const [day, close, atr] = series[i];
      const px = series.length > 1 ? left + (plotWidth * i) / (series.length - 1) : left + plotWidth / 2;
      line.setAttribute("x1", px);
      line.setAttribute("x2", px);
      dot.setAttribute("cx", px);
      dot.setAttribute("cy", y(close));
      line.style.display = dot.style.display = "";
      tip.hidden = false;
      tip.textContent = day + " · close " + fmt(close) +
        (atr === null ? "" : " · ATR " + fmt(atr) + " · band " + fmt(close - k * atr) + "–" + fmt(close + k * atr));
      const scale = rect.width / box.width;
      const tipX = px * scale;
      tip.style.left = Math.min(Math.max(tipX - tip.offsetWidth / 2, 0), rect.width - tip.offsetWidth) + "px";
      tip.style.top = Math.max(y(close) * scale - 44, 0) + "px";
    });
    svg.addEventListener("pointerleave", () => {
      line.style.display = dot.style.display = "none";
      tip.hidden = true;
    });
  }

  // --- wiring --------------------------------------------------------------------------------------

  function enhance(root) {
    localizeTimes(root);
    root.querySelectorAll("table[data-sortable]").forEach(makeSortable);
    root.querySelectorAll("form[data-sync-form]").forEach(enhanceSync);
    root.querySelectorAll("form[data-link-form]").forEach(enhanceLink);
    root.querySelectorAll("form[data-connect]").forEach(enhanceConnect);
  }

  enhance(document);
  const scanForm = document.getElementById("scan-form");
  if (scanForm) enhanceScanner(scanForm);
  document.querySelectorAll("svg[data-series]").forEach(enhancePriceChart);
})();
