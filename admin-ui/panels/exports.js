// Exports & invoices: CSV downloads, fetched with the session token and saved as local files.
import { html, useState } from "../vendor/imports.js";
import { api, download, query } from "../api.js";
import { Button, Card, Empty, ErrorText, Money, PanelHeader, Success, Table, Time, customerLabel, useAction, useAsync, usePaged } from "../components/ui.js";

function DownloadButton({ path, fallback, children }) {
  const action = useAction();
  const [saved, setSaved] = useState("");
  const click = () => {
    setSaved("");
    action.run(async () => setSaved(`Saved ${await download(path, fallback)}.`));
  };
  return html`<div class="download">
    <${Button} kind="primary" busy=${action.busy} busyLabel="Downloading…" onClick=${click}>${children}<//>
    <${ErrorText} error=${action.error} />
    <${Success}>${saved}<//>
  </div>`;
}

export function ExportsPanel({ app }) {
  const [usageCustomer, setUsageCustomer] = useState(app.selected || "");
  const [usageMonth, setUsageMonth] = useState("");
  const [invoiceMonth, setInvoiceMonth] = useState("");
  const cid = app.selected;
  const invoices = useAsync(() => (cid ? api("GET", `/customers/${encodeURIComponent(cid)}/invoices`) : null), [cid]);
  const rows = (invoices.data && invoices.data.invoices) || [];
  const paged = usePaged(rows, 10);

  return html`
    <${PanelHeader} title="Exports & invoices">CSV files for spreadsheets and accounting. Downloads are
      streamed by the gateway and saved on this computer.<//>
    <div class="columns three">
      <${Card} title="Usage rows" id="export-usage-title">
        <p class="muted small">One line per request: time, key, model, tokens, exact cost in cents.</p>
        <div class="form-grid one">
          <div class="field"><label for="export-usage-customer">Customer</label>
            <select id="export-usage-customer" value=${usageCustomer} onChange=${(e) => setUsageCustomer(e.target.value)}>
              <option value="">All customers</option>
              ${app.customers.map((c) => html`<option value=${c.id}>${customerLabel(c)}</option>`)}
            </select></div>
          <div class="field"><label for="export-usage-month">Month</label>
            <input id="export-usage-month" type="month" value=${usageMonth} onChange=${(e) => setUsageMonth(e.target.value)} aria-describedby="export-usage-month-hint" />
            <p class="hint" id="export-usage-month-hint">Empty: every month.</p></div>
          <${DownloadButton} path=${`/exports/usage.csv${query({ customer_id: usageCustomer, month: usageMonth })}`}
            fallback="usage.csv">Download usage CSV<//>
        </div>
      <//>
      <${Card} title="Customers" id="export-customers-title">
        <p class="muted small">Every customer with plan, cap, rate limit, credit and active keys.</p>
        <${DownloadButton} path="/exports/customers.csv" fallback="customers.csv">Download customers CSV<//>
      <//>
      <${Card} title="Invoice snapshots" id="export-invoices-title">
        <p class="muted small">One line per snapshot of every customer: month, version, total.</p>
        <div class="form-grid one">
          <div class="field"><label for="export-invoice-month">Month</label>
            <input id="export-invoice-month" type="month" value=${invoiceMonth} onChange=${(e) => setInvoiceMonth(e.target.value)} aria-describedby="export-invoice-month-hint" />
            <p class="hint" id="export-invoice-month-hint">Empty: every month.</p></div>
          <${DownloadButton} path=${`/exports/invoices.csv${query({ month: invoiceMonth })}`} fallback="invoices.csv">Download invoices CSV<//>
        </div>
      <//>
    </div>
    <${Card} title=${cid ? `Invoices of ${cid}` : "A customer's invoices"} id="export-customer-invoices-title">
      ${!cid ? html`<${Empty} title="No customer chosen.">Click a row in <a href="#customers">Customers</a> to list its invoice snapshots here.<//>`
        : html`<${ErrorText} error=${invoices.error} />
          ${rows.length ? html`<${Table} label="Invoice snapshots" head=${["ID", "Month", "Version", "Total", "Created", "CSV"]}>
              ${paged.rows.map((inv) => html`<tr>
                <td>${inv.id}</td><td>${inv.month}</td><td class="num">v${inv.version}</td>
                <td class="num"><${Money} cents=${inv.total_cents} /></td><td><${Time} iso=${inv.created_at} /></td>
                <td><${InvoiceCsv} invoice=${inv} /></td>
              </tr>`)}
            <//>${paged.pager}`
            : !invoices.loading && html`<${Empty} title="No snapshots yet.">Create one in <a href="#billing">Billing & controls</a>.<//>`}`}
    <//>
  `;
}

function InvoiceCsv({ invoice }) {
  const action = useAction();
  return html`<${Button} kind="secondary small" busy=${action.busy} busyLabel="Downloading…"
      aria-label=${`Download invoice ${invoice.month} v${invoice.version} as CSV`}
      onClick=${() => action.run(() => download(`/invoices/${invoice.id}.csv`, `invoice-${invoice.id}.csv`))}>Download CSV<//>
    <${ErrorText} error=${action.error} />`;
}
