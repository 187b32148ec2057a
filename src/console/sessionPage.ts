// One session: who, what, the decision and approvals, the ledger proof, and the run as a
// timeline node by node with playback at the original pace or faster.
import { buildTimeline, sessionStatus, type Session, type TimelineStep } from "../replay/index.js";
import { badge, duration, html, jsonBlock, pretty, time, type Html } from "./html.js";
import { consoleLayout } from "./layout.js";
import type { Viewer } from "./roles.js";

export function sessionPage(viewer: Viewer, session: Session): string {
  const s = session.summary;
  const request = session.request;
  const decision = request?.decision;
  const proof = session.proof;
  const timeline = buildTimeline(session);
  const events = session.recording?.kind === "events" ? session.recording.events : [];
  const end = Math.ceil([...timeline.map((item) => item.t), ...events.map((e) => e.t)].reduce((a, b) => Math.max(a, b), 0));
  const facts = html`<div class="panel"><dl class="facts">
<dt>Who</dt><dd>${s.subject ? html`<a href="/console/identities/${encodeURIComponent(s.subject)}">${s.name ?? s.subject}</a>` : "unidentified"} <span class="muted mono">${s.subject ?? ""}</span></dd>
<dt>Groups</dt><dd>${s.groups.join(", ") || "—"}</dd>
<dt>Started</dt><dd>${time(s.startedMs)} · ${duration(s.endedMs === null ? null : s.endedMs - s.startedMs)}</dd>
<dt>Request</dt><dd class="mono">${s.method} ${s.path}</dd>
<dt>Graph</dt><dd>${s.graphs.join(", ") || "—"}</dd>
<dt>Assistant</dt><dd class="mono">${s.assistantId ?? "—"}</dd>
<dt>Thread</dt><dd class="mono">${s.threadId ? html`<a href="/console/sessions?${new URLSearchParams({ thread: s.threadId, kind: "all" }).toString()}">${s.threadId}</a>` : "—"}</dd>
<dt>Run</dt><dd class="mono">${s.runId ?? "—"}</dd>
<dt>Decision</dt><dd>${badge(s.decision)} rule <span class="mono">${s.rule}</span>${decision?.reason ? html` · ${decision.reason}` : null}</dd>
<dt>Status</dt><dd data-testid="session-status">${badge(sessionStatus(session))}${s.httpStatus !== null ? html` <span class="muted">HTTP ${s.httpStatus}</span>` : null}</dd>
${request?.approval ? html`<dt>Approval</dt><dd>${badge(request.approval.via)} ${request.approval.approvers?.length ? html`by ${request.approval.approvers.join(", ")}` : null}${request.approval.approval_id ? html` · <a href="/console/approvals/${request.approval.approval_id}">${request.approval.approval_id.slice(0, 8)}</a>` : null}</dd>` : null}
${request?.masking ? html`<dt>Masking</dt><dd>request ${request.masking.request}; ${Object.entries(request.masking.redactions).map(([k, v]) => `${k} ×${v}`).join(", ") || "nothing found"}${session.completion?.masking ? html` · response ${session.completion.masking.response}` : null}</dd>` : null}
<dt>Session id</dt><dd class="mono">${s.requestId}</dd>
</dl></div>`;
  const verification = html`<div class="panel verification ${proof.valid ? "valid" : "invalid"}" data-testid="ledger-verification">
<strong>Ledger verification:</strong> ${badge(proof.valid ? "valid" : "invalid")} <span>${proof.summary}</span>
${proof.checkpoint ? html`<span class="muted">checkpoint ${proof.checkpoint.size} signed ${time(Date.parse(proof.checkpoint.created_at))}</span>` : null}
</div>`;
  const playback = events.length > 0
    ? html`<div class="panel"><div class="playback">
<strong>Replay</strong>
<button type="button" data-speed="1">▶ Original speed</button>
<button type="button" class="secondary" data-speed="2">2×</button>
<button type="button" class="secondary" data-speed="10">10×</button>
<button type="button" class="secondary" data-speed="max">Instant</button>
<button type="button" class="secondary" data-stop>Stop</button>
<label class="seek">Seek <input type="range" min="0" max="${end}" step="1" value="${end}" data-seek aria-label="Seek to a moment of the session" data-testid="seek"></label>
<span class="clock">t = ${(end / 1000).toFixed(1)} s</span> <span class="status muted">${events.length} recorded events${session.recording?.kind === "events" && session.recording.truncated ? " (recording truncated at the size limit)" : ""}</span>
</div></div>${jsonBlock("recording", events)}`
    : html`<div class="panel muted">${session.response?.state === "purged" ? "The recorded answer was purged by retention; its hash remains in the ledger." : "No stream was recorded for this session."}</div>`;
  const body = html`${facts}${verification}
<h2>Timeline</h2>${playback}
<ol class="timeline" data-testid="timeline">${timeline.map(step)}</ol>
${session.requestBody ? html`<h2>Request (as stored, masked)</h2>${payloadBlock(session.requestBody.state, session.requestBody.text)}` : null}
${events.length > 0 ? html`<h2>Recorded stream</h2><pre id="event-log" class="mono">${events.map((e) => `[${(e.t / 1000).toFixed(3)} s] event: ${e.event}\n${e.data}\n\n`).join("")}</pre>` : session.recording?.kind === "body" ? html`<h2>Response (as stored, masked)</h2><pre>${pretty(session.recording.body)}</pre>` : null}
${session.output ? html`<h2>Final state (masked)</h2><details><summary>Show the run's final values</summary>${payloadBlock(session.output.state, session.output.text)}</details>` : null}
<h2>Ledger records</h2>
<div class="table-scroll"><table><thead><tr><th>Seq</th><th>Type</th><th>Time</th><th>Leaf hash</th><th>Included</th></tr></thead><tbody>
${proof.entries.map((entry) => {
  const record = session.entries.find((e) => e.seq === entry.seq)?.record;
  return html`<tr><td class="mono">${entry.seq}</td><td>${entry.type}${record?.type === "approval" ? html` (${record.event})` : null}</td><td>${record ? time(Date.parse(record.time)) : null}</td><td class="mono">${entry.leaf_hash}</td><td>${badge(entry.included ? "included" : "invalid")}${entry.error ? html` <span class="muted">${entry.error}</span>` : null}</td></tr>`;
})}
</tbody></table></div>
<p class="muted">Viewing this session is recorded in the audit ledger.</p>`;
  return consoleLayout(viewer, "sessions", `Session: ${s.graphs.join(", ") || s.route || s.path}`, body);
}

function step(item: TimelineStep): Html {
  return html`<li class="kind-${item.kind}" data-t="${item.t}" data-kind="${item.kind}">
<div class="step-head"><span class="t">+${(item.t / 1000).toFixed(3)} s</span><span class="title">${item.title}</span>
${item.node && item.kind === "node" && item.title !== `Node ${item.node}` ? html`<span class="muted mono">${item.node}</span>` : null}
${item.duration_ms !== undefined ? html`<span class="muted">${duration(item.duration_ms)}</span>` : null}
${item.session ? html`<a href="/console/sessions/${item.session}">open call</a>` : null}</div>
${item.detail ? html`<div class="muted">${item.detail}</div>` : null}
${item.messages?.length ? html`<div class="messages">${item.messages.map(
    (m) => html`<div class="message"><div class="role">${m.role}${m.name ? ` · ${m.name}` : ""}</div>${m.text ? html`<div>${m.text}</div>` : null}
${(m.tool_calls ?? []).map((call) => html`<div class="tool-call">tool call → ${call.name}(${JSON.stringify(call.args ?? {})})</div>`)}</div>`,
  )}</div>` : null}
${item.data !== undefined && item.kind !== "node" ? html`<pre>${pretty(item.data)}</pre>` : null}
${item.data !== undefined && item.kind === "node" ? html`<details><summary>Output of ${item.node ?? "the node"} (masked)</summary><pre>${pretty(item.data)}</pre></details>` : null}
</li>`;
}

function payloadBlock(state: string, text: string | undefined): Html {
  if (state === "purged") return html`<div class="panel muted">Purged by retention; the ledger keeps its hash.</div>`;
  if (state === "altered") return html`<div class="panel">${badge("altered")} The stored copy does not match the hash in the ledger; it is not shown.</div>`;
  return html`<pre>${pretty(text ?? "")}</pre>`;
}
