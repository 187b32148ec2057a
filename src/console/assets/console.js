// Portcullis console: one time format (UTC ISO with "3 min ago" hints, kept current), columns
// that sort the page, playback and seeking of a recorded session, and the approvals inbox kept
// current over one server-sent event stream. Served from the gateway (CSP script-src 'self');
// data is inserted as text only.
"use strict";

const csrf = document.querySelector('meta[name="portcullis-csrf"]')?.content ?? "";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

// ---- time: the same words as src/console/html.ts ------------------------------------------------
function utcText(iso) {
  return iso.replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

function relativeTime(ms, now) {
  const seconds = Math.round((now - ms) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  if (s < 45) return future ? "in a moment" : "just now";
  const words = s < 3600 ? `${Math.round(s / 60)} min` : s < 86400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  return future ? `in ${words}` : `${words} ago`;
}

function timeNode(iso) {
  if (!iso) return el("span", { className: "muted" }, "—");
  return el("span", {}, el("time", { datetime: iso, title: iso }, utcText(iso)), " ", el("span", { className: "ago", "data-ago": iso }, relativeTime(Date.parse(iso), Date.now())));
}

function refreshRelativeTimes() {
  const now = Date.now();
  document.querySelectorAll("[data-ago]").forEach((node) => {
    node.textContent = relativeTime(Date.parse(node.dataset.ago), now);
  });
}

// ---- sortable tables: the page's rows, in the browser ------------------------------------------
function setUpSorting() {
  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("th button.sort").forEach((button) => {
      button.addEventListener("click", () => {
        const column = Number(button.dataset.column);
        const th = button.closest("th");
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const key = (row) => {
          const cell = row.cells[column];
          const raw = cell?.dataset.sort ?? cell?.textContent.trim() ?? "";
          return raw !== "" && !Number.isNaN(Number(raw)) ? Number(raw) : raw.toLowerCase();
        };
        const rows = [...body.rows].sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        body.append(...rows);
      });
    });
  });
}

// ---- playback and seeking --------------------------------------------------------------------
function setUpPlayback() {
  const data = document.getElementById("recording");
  const timeline = document.querySelector("ol.timeline");
  if (!data || !timeline) return;
  const events = JSON.parse(data.textContent);
  const steps = [...timeline.querySelectorAll(":scope > li")];
  const log = document.getElementById("event-log");
  const clock = document.querySelector(".playback .clock");
  const status = document.querySelector(".playback .status");
  const seek = document.querySelector("input[data-seek]");
  // The slider's max is the page's own end (whole milliseconds, over every timeline item, nested
  // ones too): playback ends there, so "at the end" means the same to the slider and the player.
  const end = [...steps.map((s) => Number(s.dataset.t)), ...events.map((e) => e.t), seek ? Number(seek.max) : 0].reduce((a, b) => Math.max(a, b), 0);
  let ticker;

  /** The session as it stood `t` ms after its start: steps reached, the events received. */
  function showAt(t, playing) {
    timeline.classList.toggle("playing", playing || t < end);
    let current;
    for (const step of steps) {
      const reached = Number(step.dataset.t) <= t;
      step.classList.toggle("pending", !reached);
      if (reached) current = step;
    }
    steps.forEach((step) => step.classList.toggle("current", step === current && (playing || t < end)));
    if (log) log.textContent = events.filter((event) => event.t <= t).map((event) => `[${(event.t / 1000).toFixed(3)} s] event: ${event.event}\n${event.data.length > 400 ? `${event.data.slice(0, 400)}…` : event.data}\n\n`).join("");
    if (log) log.scrollTop = log.scrollHeight;
    if (clock) clock.textContent = `t = ${(t / 1000).toFixed(1)} s`;
    if (seek) seek.value = String(Math.round(t));
    return current;
  }

  function stop(finished) {
    clearInterval(ticker);
    ticker = undefined;
    if (finished) {
      showAt(end, false);
      timeline.classList.remove("playing");
      steps.forEach((step) => step.classList.remove("pending", "current"));
    }
    if (status) status.textContent = finished ? "Played to the end." : "Stopped.";
  }

  function play(speed) {
    clearInterval(ticker);
    // From the seek position, unless it is at the end (then from the start).
    const from = seek && Number(seek.value) < end ? Number(seek.value) : 0;
    const started = performance.now();
    if (status) status.textContent = `Playing at ${speed === Infinity ? "full speed" : `${speed}×`}…`;
    if (speed === Infinity) {
      stop(true);
      return;
    }
    let shown;
    const tick = () => {
      const t = Math.min(end, from + (performance.now() - started) * speed);
      const current = showAt(t, true);
      if (current && current !== shown) {
        shown = current;
        current.scrollIntoView({ block: "nearest" });
      }
      if (t >= end) stop(true);
      return t >= end;
    };
    if (!tick()) ticker = setInterval(tick, 50);
  }

  document.querySelectorAll("button[data-speed]").forEach((button) =>
    button.addEventListener("click", () => play(button.dataset.speed === "max" ? Infinity : Number(button.dataset.speed))),
  );
  document.querySelector("button[data-stop]")?.addEventListener("click", () => stop(false));
  seek?.addEventListener("input", () => {
    clearInterval(ticker);
    ticker = undefined;
    const t = Number(seek.value);
    showAt(t, false);
    if (status) status.textContent = t >= end ? "At the end." : `At ${(t / 1000).toFixed(3)} s of ${(end / 1000).toFixed(3)} s.`;
  });
}

// ---- approvals inbox over one event stream --------------------------------------------------------
function setUpInbox() {
  const inbox = document.getElementById("approvals-live");
  if (!inbox) return;
  const recentBox = document.getElementById("approvals-recent");
  const flash = document.getElementById("flash");
  const live = document.getElementById("approvals-updated");
  let state = { approvals: [], recent: [], viewer: {} };

  function show(message, good) {
    if (!flash) return;
    flash.className = `flash ${good ? "good" : "bad"}`;
    flash.textContent = message;
  }

  function render() {
    // A form being filled in is not replaced under the person's cursor.
    const typing = inbox.contains(document.activeElement) && document.activeElement.matches("input, select");
    if (!typing) {
      inbox.replaceChildren(...(state.approvals.length === 0 ? [el("div", { className: "empty", "data-testid": "inbox-empty" }, "Nothing is waiting for a decision.")] : state.approvals.map((a) => card(a, state.viewer))));
    }
    renderRecent();
  }

  function renderRecent() {
    if (!recentBox) return;
    if (state.recent.length === 0) {
      recentBox.replaceChildren(el("div", { className: "empty" }, "No decisions yet."));
      return;
    }
    const rows = state.recent.map((a) => el("tr", { "data-approval": a.approval_id },
      el("td", {}, el("a", { href: `/console/approvals/${a.approval_id}` }, a.summary), el("div", { className: "muted" }, `rule ${a.rule}`)),
      el("td", {}, a.requester.name ?? a.requester.subject),
      el("td", {}, el("span", { className: `badge ${a.state === "approved" || a.state === "used" ? "good" : a.state === "denied" ? "bad" : "warn"}` }, a.state)),
      el("td", {}, timeNode(a.decided_at)),
      el("td", {}, a.votes.map((v) => `${v.approver}: ${v.verdict}${v.reason ? ` (${v.reason})` : ""}`).join("; "))));
    recentBox.replaceChildren(el("div", { className: "table-scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["What", "Requester", "State", "Decided", "Votes"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows))));
  }

  function card(a, viewer) {
    const facts = el("dl", { className: "facts" },
      el("dt", {}, "Graph"), el("dd", {}, a.request.graphs.join(", ") || "—"),
      el("dt", {}, "Rule"), el("dd", {}, `${a.rule} · ${a.approvals_given} of ${a.approvals_required} approvals from ${a.approver_groups.join(", ")}`),
      el("dt", {}, "Requester"), el("dd", {}, `${a.requester.name ?? a.requester.subject} (${a.requester.subject})`),
      el("dt", {}, "Justification"), el("dd", {}, a.justification ?? "—"),
      el("dt", {}, "Requested"), el("dd", {}, timeNode(a.created_at)),
      el("dt", {}, "Expires"), el("dd", {}, timeNode(a.expires_at)),
    );
    const raw = el("details", {}, el("summary", {}, `Raw request (masked): ${a.request.method} ${a.request.path} · ${a.request.actions.join(", ")}`), el("pre", {}, JSON.stringify(a.details, null, 2)));
    const left = el("div", {},
      el("div", { className: "summary-line", "data-testid": "approval-summary" }, a.summary),
      facts, raw,
      el("a", { href: `/console/approvals/${a.approval_id}`, className: "muted" }, `Approval ${a.approval_id}`));
    const right = el("div", {});
    if (a.can_decide) {
      const windows = [["", "Once"], ["900", "For 15 minutes"], ["3600", "For 1 hour"], ["28800", "For 8 hours"]].filter(([s]) => !s || Number(s) <= a.max_window_s);
      right.append(
        el("form", { method: "post", action: `/console/approvals/${a.approval_id}/approve`, className: "vote", "data-verdict": "approve" },
          el("input", { type: "hidden", name: "csrf_token", value: viewer.csrf_token }),
          el("label", {}, "Approve ", el("select", { name: "window_s", "aria-label": "Approve for" }, windows.map(([value, label]) => el("option", { value }, label)))),
          el("input", { name: "reason", placeholder: "Reason (optional)", "aria-label": "Approval reason" }),
          el("button", { type: "submit" }, "Approve")),
        el("form", { method: "post", action: `/console/approvals/${a.approval_id}/deny`, className: "vote", "data-verdict": "deny" },
          el("input", { type: "hidden", name: "csrf_token", value: viewer.csrf_token }),
          el("input", { name: "reason", placeholder: "Reason (required)", required: "required", "aria-label": "Denial reason" }),
          el("button", { type: "submit", className: "danger" }, "Deny")),
      );
    } else {
      right.append(el("p", { className: "muted" }, a.requester.subject === viewer.subject ? "Your request: waiting for an approver." : "You are not an approver for this request."));
    }
    return el("div", { className: "panel approval-card", "data-approval": a.approval_id }, left, right);
  }

  inbox.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.vote");
    if (!form) return;
    event.preventDefault();
    const response = await fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", "portcullis-csrf": csrf },
      body: new URLSearchParams(new FormData(form)),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      show(`${form.dataset.verdict === "approve" ? "Approved" : "Denied"}: approval ${body.approval_id?.slice(0, 8) ?? ""} is now ${body.state}.`, true);
      // At once, without waiting for the stream: a decided approval leaves the list for "Recently decided".
      const decided = state.approvals.find((a) => a.approval_id === body.approval_id);
      if (decided && body.state !== "pending") {
        document.activeElement?.blur();
        state = { ...state, approvals: state.approvals.filter((a) => a !== decided), recent: [{ ...body, summary: decided.summary }, ...state.recent.filter((a) => a.approval_id !== body.approval_id)] };
        render();
      }
    } else {
      show(body.message ?? `The decision failed (${response.status}).`, false);
    }
  });

  const stream = new window.EventSource("/console/approvals/events");
  stream.addEventListener("open", () => {
    if (live) live.textContent = "live";
  });
  stream.addEventListener("inbox", (event) => {
    state = JSON.parse(event.data);
    render();
    if (live) live.textContent = `live · updated ${utcText(new Date().toISOString())}`;
  });
  stream.addEventListener("signed-out", () => {
    stream.close();
    if (live) live.textContent = "signed out: sign in again to see updates";
  });
  stream.addEventListener("error", () => {
    if (live && stream.readyState !== stream.CLOSED) live.textContent = "reconnecting…";
  });
}

setUpSorting();
setUpPlayback();
setUpInbox();
setInterval(refreshRelativeTimes, 30_000);
