// Overview, the landing page: spend across customers, recent traffic, errors by provider, the
// top spenders and who is near their allowance (GET /overview, one snapshot).
import { html } from "../vendor/imports.js";
import { api } from "../api.js";
import { formatInt, formatPercent } from "../format.js";
import { Card, Empty, ErrorText, Loading, Money, PanelHeader, Table, Time, useAsync } from "../components/ui.js";

function Stat({ label, value, note, testid }) {
  return html`<div class="stat" data-testid=${testid}>
    <dt>${label}</dt><dd>${value}</dd>${note && html`<p class="muted small">${note}</p>`}</div>`;
}

function Spenders({ label, rows, empty }) {
  if (!rows.length) return html`<${Empty} title=${empty} />`;
  return html`<${Table} label=${label} head=${["Customer", "Spent", "Allowance", "Used"]}>
    ${rows.map((c) => html`<tr key=${c.id}>
      <td>${c.name ? `${c.name} (${c.id})` : c.id}</td>
      <td><${Money} cents=${c.spent_cents} /></td>
      <td><${Money} cents=${c.allowance_cents} /></td>
      <td>${c.percent === null ? "—" : `${c.percent} %`}</td>
    </tr>`)}
  <//>`;
}

export function OverviewPanel() {
  const overview = useAsync(() => api("GET", "/overview"), []);
  const data = overview.data;
  return html`
    <${PanelHeader} title="Overview"
      tools=${html`<button type="button" class="secondary" onClick=${overview.reload} disabled=${overview.loading}>Refresh</button>`}>
      This month across every customer, and the last hour's traffic${data && html`, as of <${Time} iso=${data.at} />`}.<//>
    <${ErrorText} error=${overview.error} />
    ${overview.loading && !data ? html`<${Loading} />` : data && html`
      <dl class="stats">
        <${Stat} label="Spent this month" value=${html`<${Money} cents=${data.spend.month_cents} />`}
          note=${`${formatInt(data.spend.month_requests)} requests in ${data.month}`} testid="overview-month" />
        <${Stat} label="Spent today" value=${html`<${Money} cents=${data.spend.today_cents} />`}
          note=${`${formatInt(data.spend.today_requests)} requests, ${data.day} UTC`} testid="overview-today" />
        <${Stat} label="Requests / min" value=${formatInt(data.requests_per_minute.last_minute)}
          note=${`last minute; ${data.requests_per_minute.last_5_minutes} on average over 5 min`} testid="overview-rpm" />
      </dl>
      <${Card} title="Errors by provider, last hour">
        ${data.providers.length
          ? html`<${Table} label="Errors by provider" head=${["Provider", "Requests", "Errors", "Error rate"]}>
              ${data.providers.map((p) => html`<tr key=${p.provider}>
                <td>${p.provider}</td><td>${formatInt(p.requests)}</td><td>${formatInt(p.errors)}</td>
                <td>${formatPercent(p.error_rate)}</td></tr>`)}
            <//>`
          : html`<${Empty} title="No requests in the last hour." />`}
      <//>
      <${Card} title="Top customers this month">
        <${Spenders} label="Top customers" rows=${data.top_customers} empty="No spend this month yet." />
      <//>
      <${Card} title="Over 80 % of their allowance">
        <${Spenders} label="Customers near their allowance" rows=${data.over_80_percent} empty="No customer is near their allowance." />
      <//>`}
  `;
}
