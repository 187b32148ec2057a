// Portcullis console: playback of a recorded session, and the approvals inbox kept current
// without reloading. Served from the gateway (CSP script-src 'self'); data is inserted as text.
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

// ---- playback -----------------------------------------------------------------------------
function setUpPlayback() {
  const data = document.getElementById("recording");
  const timeline = document.querySelector("ol.timeline");
  if (!data || !timeline) return;
  const events = JSON.parse(data.textContent);
  const steps = [...timeline.querySelectorAll(":scope > li")];
  const log = document.getElementById("event-log");
  const clock = document.querySelector(".playback .clock");
  const status = document.querySelector(".playback .status");
  let timers = [];
  let ticker;

  function stop(finished) {
    timers.forEach(clearTimeout);
    timers = [];
    clearInterval(ticker);
    timeline.classList.remove("playing");
    steps.forEach((step) => step.classList.remove("pending", "current"));
    if (status) status.textContent = finished ? "Played to the end." : "Stopped.";
  }

  function play(speed) {
    stop(false);
    if (log) log.textContent = "";
    timeline.classList.add("playing");
    steps.forEach((step) => step.classList.add("pending"));
    const started = performance.now();
    const end = [...steps.map((s) => Number(s.dataset.t)), ...events.map((e) => e.t)].reduce((a, b) => Math.max(a, b), 0);
    if (status) status.textContent = `Playing at ${speed === Infinity ? "full speed" : `${speed}×`}…`;
    ticker = setInterval(() => {
      if (clock) clock.textContent = `t = ${((performance.now() - started) * (speed === Infinity ? 1 : speed) / 1000).toFixed(1)} s`;
    }, 100);
    const at = (t) => (speed === Infinity ? 0 : t / speed);
    for (const step of steps) {
      timers.push(setTimeout(() => {
        steps.forEach((s) => s.classList.remove("current"));
        step.classList.remove("pending");
        step.classList.add("current");
        step.scrollIntoView({ block: "nearest" });
      }, at(Number(step.dataset.t))));
    }
    for (const event of events) {
      timers.push(setTimeout(() => {
        if (!log) return;
        log.append(`[${(event.t / 1000).toFixed(3)} s] event: ${event.event}\n${event.data.length > 400 ? `${event.data.slice(0, 400)}…` : event.data}\n\n`);
        log.scrollTop = log.scrollHeight;
      }, at(event.t)));
    }
    timers.push(setTimeout(() => {
      stop(true);
      if (clock) clock.textContent = `t = ${(end / 1000).toFixed(1)} s`;
    }, at(end) + 50));
  }

  document.querySelectorAll("button[data-speed]").forEach((button) =>
    button.addEventListener("click", () => play(button.dataset.speed === "max" ? Infinity : Number(button.dataset.speed))),
  );
  document.querySelector("button[data-stop]")?.addEventListener("click", () => stop(false));
}

// ---- approvals inbox ------------------------------------------------------------------------
function setUpInbox() {
  const inbox = document.getElementById("approvals-live");
  if (!inbox) return;
  const flash = document.getElementById("flash");

  function show(message, good) {
    if (!flash) return;
    flash.className = `flash ${good ? "good" : "bad"}`;
    flash.textContent = message;
  }

  async function refresh() {
    const response = await fetch("/console/approvals.json", { headers: { accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    render(body.approvals, body.viewer);
    const stamp = document.getElementById("approvals-updated");
    if (stamp) stamp.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  function render(approvals, viewer) {
    inbox.replaceChildren(...(approvals.length === 0 ? [el("div", { className: "empty", "data-testid": "inbox-empty" }, "Nothing is waiting for a decision.")] : approvals.map((a) => card(a, viewer))));
  }

  function card(a, viewer) {
    const canDecide = a.can_decide;
    const facts = el("dl", { className: "facts" },
      el("dt", {}, "Requester"), el("dd", {}, `${a.requester.name ?? a.requester.subject} (${a.requester.subject})`),
      el("dt", {}, "Request"), el("dd", { className: "mono" }, `${a.request.method} ${a.request.path}`),
      el("dt", {}, "Actions"), el("dd", {}, a.request.actions.join(", ")),
      el("dt", {}, "Graphs"), el("dd", {}, a.request.graphs.join(", ") || "—"),
      el("dt", {}, "Rule"), el("dd", {}, a.rule),
      el("dt", {}, "Approvals"), el("dd", {}, `${a.approvals_given} of ${a.approvals_required}`),
      el("dt", {}, "Justification"), el("dd", {}, a.justification ?? "—"),
      el("dt", {}, "Expires"), el("dd", {}, a.expires_at.replace("T", " ").replace(/\.\d+Z$/, " UTC")),
    );
    const details = el("details", {}, el("summary", {}, "Masked request details"), el("pre", {}, JSON.stringify(a.details, null, 2)));
    const left = el("div", {}, el("div", { className: "step-head" }, el("span", { className: "title" }, `Approval ${a.approval_id.slice(0, 8)}`), el("span", { className: `badge ${a.state === "pending" ? "warn" : "neutral"}` }, a.state)), facts, details);
    const right = el("div", {});
    if (canDecide) {
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
    if (response.ok) show(`${form.dataset.verdict === "approve" ? "Approved" : "Denied"}: approval ${body.approval_id?.slice(0, 8) ?? ""} is now ${body.state}.`, true);
    else show(body.message ?? `The decision failed (${response.status}).`, false);
    await refresh();
  });

  // Each poll is a recorded request: often enough to feel live, not so often it floods the ledger.
  setInterval(() => void refresh().catch(() => undefined), 3000);
  void refresh();
}

setUpPlayback();
setUpInbox();
