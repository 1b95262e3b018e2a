// Audit: who did what, from where, with the before and after of every admin write; paged.
import { Fragment, html, useState } from "../vendor/imports.js";
import { api, query } from "../api.js";
import { Card, Empty, ErrorText, Loading, PanelHeader, Pager, Table, Time, customerLabel, useAsync } from "../components/ui.js";

const PAGE = 50;

export function AuditPanel({ app }) {
  const [customer, setCustomer] = useState(app.selected || "");
  const [cursors, setCursors] = useState([]);
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const log = useAsync(() => api("GET", `/audit${query({ customer_id: customer, limit: PAGE, cursor })}`), [customer, cursor]);
  const entries = (log.data && log.data.entries) || [];

  return html`
    <${PanelHeader} title="Audit"
      tools=${html`<div class="field inline"><label for="audit-customer">Customer</label>
        <select id="audit-customer" value=${customer} onChange=${(e) => { setCustomer(e.target.value); setCursors([]); }}>
          <option value="">All customers</option>
          ${app.customers.map((c) => html`<option value=${c.id}>${customerLabel(c)}</option>`)}
        </select></div>`}>
      Every admin change — customers, keys, credit, pricing, invoices, devices — newest first.<//>
    <${Card}>
      <${ErrorText} error=${log.error} />
      ${log.loading && !log.data ? html`<${Loading} />`
        : entries.length ? html`<${Table} label="Audit log" head=${["Time", "Action", "Customer", "Target", "Actor", "Address", "Change"]}>
            ${entries.map((entry) => html`<${AuditRow} key=${entry.id} entry=${entry} />`)}
          <//>
          <${Pager} busy=${log.loading} summary=${`Page ${cursors.length + 1}`} previousLabel="← Newer" nextLabel="Older →"
            onPrevious=${cursors.length ? () => setCursors(cursors.slice(0, -1)) : null}
            onNext=${log.data.next_cursor ? () => setCursors([...cursors, log.data.next_cursor]) : null} />`
        : html`<${Empty} title="Nothing recorded yet${customer ? " for this customer" : ""}." />`}
    <//>
  `;
}

function AuditRow({ entry: e }) {
  const [open, setOpen] = useState(false);
  const change = e.before || e.after;
  return html`<${Fragment}>
    <tr class=${open ? "expanded" : ""}>
      <td><${Time} iso=${e.at} /></td>
      <td><code>${e.action}</code></td>
      <td>${e.customer_id || html`<span class="muted">—</span>`}</td>
      <td><code class="small">${e.target || ""}</code></td>
      <td>${e.actor}</td>
      <td>${e.address || ""}</td>
      <td>${change && html`<button type="button" class="link small" aria-expanded=${open ? "true" : "false"}
        onClick=${() => setOpen(!open)}><span aria-hidden="true">${open ? "▾" : "▸"}</span> Before / after</button>`}</td>
    </tr>
    ${open && html`<tr class="detail"><td colspan="7"><div class="change">
      <div><p class="small muted">Before</p><pre>${e.before ? JSON.stringify(e.before, null, 2) : "—"}</pre></div>
      <div><p class="small muted">After</p><pre>${e.after ? JSON.stringify(e.after, null, 2) : "—"}</pre></div>
    </div></td></tr>`}
  <//>`;
}
