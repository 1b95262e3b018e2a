// Usage: a customer's month — cap, credit, spend, tokens, the daily chart, per-model totals and
// the request rows (paged by the API's cursor).
import { html, useState } from "../vendor/imports.js";
import { api, query } from "../api.js";
import { currentMonth, formatCents, formatInt, fromUc, toUc } from "../format.js";
import { DailySpendChart } from "../components/chart.js";
import {
  Badge, Button, Card, CustomerPicker, Empty, ErrorText, Loading, Money, NeedCustomer, PanelHeader, Pager,
  Table, Time, useAsync, useKeyNames,
} from "../components/ui.js";

const PAGE = 50;

export function UsagePanel({ app }) {
  const cid = app.selected;
  const [month, setMonth] = useState(currentMonth());
  const [keyId, setKeyId] = useState("");
  const [cursors, setCursors] = useState([]); // the cursors of the pages before this one
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const keys = useAsync(() => (cid ? api("GET", `/customers/${encodeURIComponent(cid)}/keys`) : null), [cid]);
  const usage = useAsync(
    () => cid && /^\d{4}-\d{2}$/.test(month)
      ? api("GET", `/customers/${encodeURIComponent(cid)}/usage${query({ month, key_id: keyId, limit: PAGE, cursor })}`)
      : null,
    [cid, month, keyId, cursor],
  );
  const keyNames = useKeyNames(keys.data && keys.data.keys);
  // Names for the upstream column; a deleted upstream is shown by its id.
  const upstreams = useAsync(() => api("GET", "/upstreams"), []);
  const upstreamNames = new Map(((upstreams.data && upstreams.data.upstreams) || []).map((u) => [u.id, u]));
  const data = usage.data;
  const restart = (fn) => (event) => {
    fn(event.target.value);
    setCursors([]);
  };

  return html`
    <${PanelHeader} title="Usage" tools=${html`<${CustomerPicker} app=${app} />`}>
      What a customer spent in a month (UTC), by day and by model, and every request.<//>
    <${NeedCustomer} app=${app} />
    ${cid && html`
      <div class="toolbar">
        <div class="field inline"><label for="usage-month">Month</label>
          <input id="usage-month" type="month" value=${month} onChange=${restart(setMonth)} /></div>
        <div class="field inline"><label for="usage-key">Key</label>
          <select id="usage-key" value=${keyId} onChange=${restart(setKeyId)}>
            <option value="">All keys</option>
            ${((keys.data && keys.data.keys) || []).map((k) => html`<option value=${k.id}>${keyNames.get(k.id)}</option>`)}
          </select></div>
        <${Button} kind="secondary" busy=${usage.loading} busyLabel="Refreshing…" onClick=${usage.reload}>Refresh<//>
      </div>
      <${ErrorText} error=${usage.error} />
      ${!/^\d{4}-\d{2}$/.test(month) ? html`<${Empty} title="Choose a month." />`
        : !data ? (!usage.error && html`<${Loading} />`) : html`
        <${Stats} data=${data} />
        <${Card} title="Daily spend" id="usage-chart-title">
          <${DailySpendChart} month=${data.month} days=${data.by_day || []} />
        <//>
        <${Card} title="By model" id="usage-models-title">
          ${(data.by_model || []).length
            ? html`<${Table} label="Usage by model" head=${["Provider", "Model", "Requests", "Input tokens", "Output tokens", "Cost", "Share"]}>
                ${data.by_model.map((m) => html`<tr>
                  <td>${m.provider}</td><td>${m.model}</td>
                  <td class="num">${formatInt(m.requests)}</td>
                  <td class="num">${formatInt(m.input_tokens)}</td>
                  <td class="num">${formatInt(m.output_tokens)}</td>
                  <td class="num"><${Money} cents=${m.cost_cents} /></td>
                  <td class="num">${share(m.cost_cents, data.cost_cents)}</td>
                </tr>`)}
              <//>`
            : html`<${Empty} title="No requests in this month." />`}
        <//>
        <${Card} title="Requests" id="usage-events-title">
          ${data.events.length
            ? html`<${Table} label="Requests" head=${["Time", "Key", "Provider", "Model", "Upstream", "Input tokens", "Output tokens", "Cost", "Status", "Latency", "Install id", "Request id"]}>
                ${data.events.map((e) => html`<tr>
                  <td><${Time} iso=${e.time} /></td>
                  <td>${keyNames.get(e.key_id) || e.key_id}</td>
                  <td>${e.provider}</td><td>${e.model}</td>
                  <td><${UpstreamCell} event=${e} upstream=${upstreamNames.get(e.upstream_id)} listed=${Boolean(upstreams.data)} /></td>
                  <td class="num">${formatInt(e.input_tokens)}</td>
                  <td class="num">${formatInt(e.output_tokens)}</td>
                  <td class="num"><${Money} cents=${e.cost_cents} /></td>
                  <td>${e.status === "ok" ? html`<${Badge} kind="ok">ok<//>` : html`<${Badge} kind="warn" title=${e.error || ""}>${e.status}<//>`}</td>
                  <td class="num">${e.latency_ms === null || e.latency_ms === undefined ? "—" : `${formatInt(e.latency_ms)} ms`}</td>
                  <td>${e.install_id || html`<span class="muted">—</span>`}</td>
                  <td><code class="small">${e.request_id || ""}</code></td>
                </tr>`)}
              <//>
              <${Pager} busy=${usage.loading}
                summary=${`Page ${cursors.length + 1} · ${formatInt(data.requests ?? data.events.length)} request(s) this month`}
                previousLabel="← Newer" nextLabel="Older →"
                onPrevious=${cursors.length ? () => setCursors(cursors.slice(0, -1)) : null}
                onNext=${data.next_cursor ? () => setCursors([...cursors, data.next_cursor]) : null} />`
            : html`<${Empty} title="No requests in this month." />`}
        <//>
      `}
    `}
  `;
}

/** Who answered: the upstream's label (or provider) and, after a failover, how many tries. */
function UpstreamCell({ event: e, upstream, listed }) {
  if (!e.upstream_id) return html`<span class="muted">—</span>`;
  const name = upstream ? upstream.label || upstream.provider : `${e.upstream_id}${listed ? " (deleted)" : ""}`;
  return html`<span title=${e.upstream_id}>${name}</span>${e.attempts > 1 && html` <${Badge} kind="warn"
    title=${`${e.attempts - 1} upstream(s) failed before this one answered`}>${e.attempts} attempts<//>`}`;
}

function share(part, whole) {
  if (!whole) return "—";
  const percent = (toUc(part) / toUc(whole)) * 100;
  return `${percent < 0.1 && percent > 0 ? "<0.1" : percent.toFixed(1)} %`;
}

function Stats({ data }) {
  const capUc = toUc(data.cap_cents);
  const spentUc = toUc(data.spent_cents);
  const leftUc = Math.max(capUc - spentUc, 0) + toUc(data.extra_cents);
  const isCurrent = data.month === currentMonth();
  const stat = (label, value, note, testid) => html`<div class="stat" data-testid=${testid}>
    <dt>${label}</dt><dd>${value}</dd>${note && html`<p class="muted small">${note}</p>`}</div>`;
  return html`<dl class="stats">
    ${stat("Monthly cap", html`<${Money} cents=${data.cap_cents} />`, "the customer's plan", "stat-cap")}
    ${stat("Credit", html`<${Money} cents=${data.extra_cents} />`, "prepaid, never expires", "stat-credit")}
    ${stat("Spent", html`<${Money} cents=${data.spent_cents} />`, `in ${data.month}`, "stat-spent")}
    ${isCurrent && stat("Left this month", html`<span title=${formatCents(fromUc(leftUc))}>${formatCents(fromUc(leftUc))}</span>`, "cap left + credit", "stat-left")}
    ${stat("Requests", formatInt(data.requests ?? 0), null, "stat-requests")}
    ${stat("Input tokens", formatInt(data.input_tokens), null, "stat-input-tokens")}
    ${stat("Output tokens", formatInt(data.output_tokens), null, "stat-output-tokens")}
  </dl>`;
}
