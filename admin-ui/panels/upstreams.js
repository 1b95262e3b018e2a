// Upstreams: who answers each provider's calls (a base URL and a key), in which order, and how
// each is doing; add, edit, enable/disable, delete and test them. Keys are never shown.
import { Fragment, html, useEffect, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { formatClock, formatInt, formatPercent, formatTime } from "../format.js";
import { providerNames } from "../components/providers.js";
import {
  Badge, Button, Card, ConfirmDialog, Empty, ErrorText, Loading, PanelHeader, Success, Table,
  useAction, useAsync, usePaged,
} from "../components/ui.js";
import { UpstreamForm } from "./upstream-form.js";
import { can } from "../roles.js";

const HEAD = ["Provider", "Endpoint and key", "Models", "Routing", "Health (15 min)", "Actions"];

/** How an upstream is named in buttons and messages: "groq “Fast” (…1234)". */
function upstreamName(u) {
  return `${u.provider}${u.label ? ` “${u.label}”` : ""} (…${u.key_last4})`;
}

async function loadUpstreams() {
  const [body, pricing] = await Promise.all([api("GET", "/upstreams"), api("GET", "/pricing")]);
  return { upstreams: body.upstreams, prices: pricing.prices, at: new Date().toISOString() };
}

/** What happens to a provider's calls without `upstream`: said before it is disabled or deleted. */
function whatRemains(all, upstream) {
  const others = all.filter((u) => u.provider === upstream.provider && u.id !== upstream.id && u.enabled);
  return others.length
    ? `Calls to ${upstream.provider} go to its ${others.length === 1 ? "other enabled upstream" : `${others.length} other enabled upstreams`}.`
    : `No other upstream serves ${upstream.provider}: its calls fail until one is enabled.`;
}

export function UpstreamsPanel() {
  const loaded = useAsync(loadUpstreams, []);
  const [editing, setEditing] = useState(null);
  const [confirm, setConfirm] = useState(null); // the upstream to delete
  const [notice, setNotice] = useState("");
  const action = useAction();
  const all = (loaded.data && loaded.data.upstreams) || [];
  const paged = usePaged(all, 25);
  const providers = providerNames(all.map((u) => u.provider), ((loaded.data && loaded.data.prices) || []).map((p) => p.provider));

  const toggle = (upstream) =>
    action.run(async () => {
      setNotice("");
      const enabled = !upstream.enabled;
      const { upstream: saved } = await api("PATCH", `/upstreams/${encodeURIComponent(upstream.id)}`, { enabled });
      setNotice(enabled
        ? `${upstreamName(saved)} is enabled: it gets calls again.`
        : `${upstreamName(saved)} is disabled. ${whatRemains(all, upstream)}`);
      loaded.reload();
    });
  const remove = () =>
    action.run(async () => {
      await api("DELETE", `/upstreams/${encodeURIComponent(confirm.id)}`);
      setNotice(`${upstreamName(confirm)} is deleted, and its key with it.`);
      if (editing && editing.id === confirm.id) setEditing(null);
      setConfirm(null);
      loaded.reload();
    });
  const saved = (upstream, created) => {
    setEditing(null);
    setNotice(created
      ? `${upstreamName(upstream)} is added. Its key is stored sealed and will never be shown again: here it is only …${upstream.key_last4}.`
      : `${upstreamName(upstream)} is saved.`);
    loaded.reload();
  };

  const tools = html`${loaded.data && html`<span class="muted small">Health as of ${formatClock(loaded.data.at)}</span>`}
    <${Button} kind="secondary" busy=${loaded.loading} busyLabel="Refreshing…" onClick=${loaded.reload}>Refresh<//>`;
  return html`
    <${PanelHeader} title="Upstreams" tools=${tools}>
      Where each provider's calls go: a base URL and a key. The lowest priority is tried first,
      upstreams of one priority share the calls by weight, and one that fails cools down while
      the next answers. Those from the environment are read-only here.<//>
    <${Success}>${notice}<//>
    <${ErrorText} error=${loaded.error} />
    <${ErrorText} error=${!confirm && action.error} />
    <${Card} title=${all.length === 1 ? "1 upstream" : `${all.length} upstreams`} id="upstreams-title">
      ${!loaded.data ? (!loaded.error && html`<${Loading} />`)
        : all.length ? html`<${Table} label="Upstreams" className="sticky-actions upstreams" head=${HEAD}>
            ${paged.rows.map((u) => html`<${UpstreamRow} key=${u.id} upstream=${u} busy=${action.busy}
              onTested=${loaded.reload} onToggle=${() => toggle(u)}
              onEdit=${() => { setNotice(""); setEditing(u); }}
              onDelete=${() => { action.setError(null); setConfirm(u); }} />`)}
          <//>${paged.pager}`
        : html`<${Empty} title="No upstreams yet.">Add one below; without one, a provider's calls cannot be answered.<//>`}
    <//>
    ${!can("owner") ? null : editing
      ? html`<${UpstreamForm} key=${`edit-${editing.id}`} editing=${editing} providers=${providers}
          onCancel=${() => setEditing(null)} onSaved=${(u) => saved(u, false)} />`
      : html`<${UpstreamForm} key="create" providers=${providers} onSaved=${(u) => saved(u, true)} />`}
    ${confirm && html`<${ConfirmDialog} title=${`Delete upstream ${upstreamName(confirm)}?`}
        confirmLabel="Delete upstream" busyLabel="Deleting…" danger=${true} busy=${action.busy} error=${action.error}
        onConfirm=${remove} onCancel=${() => { setConfirm(null); action.setError(null); }}>
        <p>Calls stop going to <code class="url">${confirm.base_url}</code> at once, on every gateway
          process, and its key is destroyed: to use it again, add it again. ${whatRemains(all, confirm)}</p>
        ${confirm.enabled && html`<p class="muted small">To stop its calls for a while, disable it instead.</p>`}
      <//>`}
  `;
}

function UpstreamRow({ upstream: u, busy, onTested, onToggle, onEdit, onDelete }) {
  // Each click on "Test" opens a fresh test row (0: closed), which sends its request at once.
  const [testing, setTesting] = useState(0);
  const name = upstreamName(u);
  return html`<${Fragment}>
    <tr data-upstream-id=${u.id} class=${`${u.enabled ? "" : "disabled"} ${testing ? "expanded" : ""}`.trim()}>
      <td class="wrap narrow"><strong>${u.provider}</strong>
        ${u.label && html`<br /><span class="muted small">${u.label}</span>`}
        <br />${u.enabled ? html`<${Badge} kind="ok">Enabled<//>` : html`<${Badge} kind="off">Disabled<//>`}
        ${u.read_only && html` <${Badge} kind="info" title="Set in the environment: change it there">read-only<//>`}</td>
      <td class="wrap endpoint"><code>${u.api}</code> API
        <br /><code class="url small">${u.base_url}</code>
        <br />key <code>…${u.key_last4}</code>
        ${u.header_names.length > 0 && html`<br /><span class="muted small">Extra headers: ${u.header_names.join(", ")}</span>`}</td>
      <td class="wrap narrow">${u.models ? u.models.join(", ") : html`<span class="muted">all</span>`}</td>
      <td>Priority ${u.priority}<br />Weight ${u.weight}</td>
      <td class="wrap health-cell"><${Health} health=${u.health} /></td>
      <td class="actions-cell"><div class="row-actions">
        ${can("owner") && html`<button type="button" class="secondary small" aria-expanded=${testing ? "true" : "false"}
          aria-label=${`Test ${name}`} onClick=${() => setTesting(testing + 1)}>Test</button>`}
        ${!u.read_only && can("owner") && html`
          <button type="button" class="secondary small" aria-label=${`Edit ${name}`} onClick=${onEdit}>Edit</button>
          <button type="button" class="secondary small" aria-label=${`${u.enabled ? "Disable" : "Enable"} ${name}`}
            disabled=${busy} onClick=${onToggle}>${u.enabled ? "Disable" : "Enable"}</button>
          <button type="button" class="danger small" aria-label=${`Delete ${name}`} onClick=${onDelete}>Delete</button>`}
      </div></td>
    </tr>
    ${testing > 0 && html`<tr class="detail"><td colspan=${HEAD.length}>
      <${TestPanel} key=${testing} upstream=${u} name=${name} onTested=${onTested} onClose=${() => setTesting(0)} />
    </td></tr>`}
  <//>`;
}

/** A moment of the last day as its time of day; older ones with their date. */
function when(iso) {
  return Date.now() - Date.parse(iso) < 86_400_000 ? formatClock(iso) : formatTime(iso);
}

function Health({ health: h }) {
  const errors = Object.entries(h.errors_by_kind || {});
  const rate = h.success_rate;
  return html`<div class="health">
    ${h.requests
      ? html`<span><${Badge} kind=${rate >= 0.95 ? "ok" : rate >= 0.5 ? "warn" : "off"}>${formatPercent(rate)} ok<//>
          ${h.latency_p50_ms !== null && ` p50 ${formatInt(h.latency_p50_ms)} ms ·`} ${formatInt(h.requests)} ${h.requests === 1 ? "request" : "requests"}</span>`
      : html`<span class="muted">No requests</span>`}
    ${errors.length > 0 && html`<span class="small muted">Errors: ${errors.map(([kind, n]) => `${kind} ${n}`).join(", ")}</span>`}
    ${h.cooling_until && html`<span><${Badge} kind="warn">cooling until ${formatClock(h.cooling_until)}<//></span>`}
    ${h.last_error && html`<span class="small">Last error${h.last_error_at ? ` at ${when(h.last_error_at)}` : ""}:
      <span class="last-error" title=${h.last_error}>${h.last_error}</span></span>`}
  </div>`;
}

/** Sends one 1-token request through this upstream alone; another model can be tried. */
function TestPanel({ upstream, name, onTested, onClose }) {
  const [model, setModel] = useState("");
  const [result, setResult] = useState(null);
  const action = useAction();
  const run = (event) => {
    if (event) event.preventDefault();
    action.run(async () => {
      setResult(null);
      const body = model.trim() ? { model: model.trim() } : {};
      const answer = await api("POST", `/upstreams/${encodeURIComponent(upstream.id)}/test`, body);
      setResult(answer.result);
      setModel(answer.result.model);
      onTested(); // and the list (its health) is refreshed, as after every action
    });
  };
  // Opening the row is the click on "Test": send the first request at once.
  useEffect(() => {
    run();
  }, []);

  return html`<section class="test-result" aria-label=${`Test of ${name}`}>
    <div aria-live="polite">
      ${action.busy && html`<p class="muted" role="status">Sending a 1-token request through this upstream…</p>`}
      ${result && html`<${TestOutcome} result=${result} />`}
      <${ErrorText} error=${action.error} />
    </div>
    <form class="toolbar" onSubmit=${run}>
      <div class="field inline"><label for=${`test-model-${upstream.id}`}>Model</label>
        <input id=${`test-model-${upstream.id}`} value=${model} placeholder="Chosen by the gateway" spellcheck="false"
          onInput=${(event) => setModel(event.target.value)} /></div>
      <${Button} type="submit" kind="secondary small" busy=${action.busy} busyLabel="Testing…">Test again<//>
      <button type="button" class="link small" onClick=${onClose}>Close</button>
    </form>
  </section>`;
}

function TestOutcome({ result: r }) {
  return html`<dl class="facts test-facts" data-testid="test-outcome">
    <div><dt>Result</dt><dd>${r.ok ? html`<${Badge} kind="ok">OK<//>` : html`<${Badge} kind="off">Failed<//>`}</dd></div>
    <div><dt>Status</dt><dd>${r.status ?? "none"}</dd></div>
    <div><dt>Latency</dt><dd>${formatInt(r.latency_ms)} ms</dd></div>
    <div><dt>Model</dt><dd><code>${r.model}</code></dd></div>
    <div class="wide"><dt>${r.ok ? "Answer" : "Error"}</dt>
      <dd>${r.ok ? (r.text ? `“${r.text}”` : html`<span class="muted">(empty)</span>`) : r.error}</dd></div>
  </dl>`;
}
