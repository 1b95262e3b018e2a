// Alerts: the spend alerts fired (a threshold of a month's allowance reached, credit running
// low), each with its delivery to the webhooks; owners also manage the webhooks here.
import { Fragment, html, useState } from "../vendor/imports.js";
import { api, query } from "../api.js";
import { Checkbox, Field } from "../components/fields.js";
import {
  Badge, Button, Card, ConfirmDialog, CopyButton, Empty, ErrorText, Loading, Money, PanelHeader, Pager,
  Success, Table, Time, customerLabel, useAction, useAsync,
} from "../components/ui.js";
import { can } from "../roles.js";

const PAGE = 50;
const STATE_BADGE = { delivered: "ok", pending: "info", failed: "off", none: "" };

export function AlertsPanel({ app }) {
  const [customer, setCustomer] = useState(app.selected || "");
  const [cursors, setCursors] = useState([]);
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const alerts = useAsync(() => api("GET", `/alerts${query({ customer_id: customer, limit: PAGE, cursor })}`), [customer, cursor]);
  const rows = (alerts.data && alerts.data.alerts) || [];

  return html`
    <${PanelHeader} title="Alerts"
      tools=${html`<div class="field inline"><label for="alerts-customer">Customer</label>
        <select id="alerts-customer" value=${customer} onChange=${(e) => { setCustomer(e.target.value); setCursors([]); }}>
          <option value="">All customers</option>
          ${app.customers.map((c) => html`<option value=${c.id}>${customerLabel(c)}</option>`)}
        </select></div>
        <${Button} kind="secondary" busy=${alerts.loading} busyLabel="Refreshing…" onClick=${alerts.reload}>Refresh<//>`}>
      Each alert fires once per customer, month and threshold (set them in Billing &amp; controls), and is sent to every webhook that takes its kind.<//>
    <${Card} title="Alerts fired" id="alerts-title">
      <${ErrorText} error=${alerts.error} />
      ${alerts.loading && !alerts.data ? html`<${Loading} />`
        : rows.length ? html`<${Table} label="Alerts" head=${["Time", "Customer", "Alert", "Month", "Spent", "Allowance", "Credit", "Delivery"]}>
            ${rows.map((alert) => html`<${AlertRow} key=${alert.id} alert=${alert} />`)}
          <//>
          <${Pager} busy=${alerts.loading} summary=${`Page ${cursors.length + 1}`} previousLabel="← Newer" nextLabel="Older →"
            onPrevious=${cursors.length ? () => setCursors(cursors.slice(0, -1)) : null}
            onNext=${alerts.data.next_cursor ? () => setCursors([...cursors, alerts.data.next_cursor]) : null} />`
        : html`<${Empty} title="No alert has fired${customer ? " for this customer" : ""}." />`}
    <//>
    ${can("owner") && html`<${Webhooks} />`}
  `;
}

function alertText(alert) {
  return alert.kind === "threshold" ? `${alert.threshold} % of the allowance` : "Credit running low";
}

function AlertRow({ alert }) {
  const [open, setOpen] = useState(false);
  const d = alert.delivery;
  return html`<${Fragment}>
    <tr data-alert=${alert.id}>
      <td><${Time} iso=${alert.at} /></td>
      <td>${alert.customer_id}</td>
      <td>${alertText(alert)}</td>
      <td>${alert.month}</td>
      <td class="num"><${Money} cents=${alert.spent_cents} /></td>
      <td class="num"><${Money} cents=${alert.allowance_cents} /></td>
      <td class="num"><${Money} cents=${alert.extra_cents} /></td>
      <td><${Badge} kind=${STATE_BADGE[d.state]}>${d.state === "none" ? "no webhook" : d.state}<//>
        ${d.webhooks > 0 && html` <button type="button" class="link small" aria-expanded=${open ? "true" : "false"}
          onClick=${() => setOpen(!open)}>${d.delivered}/${d.webhooks} delivered</button>`}</td>
    </tr>
    ${open && html`<tr class="detail"><td colspan="8"><${Deliveries} alertId=${alert.id} /></td></tr>`}
  <//>`;
}

function Deliveries({ alertId }) {
  const loaded = useAsync(() => api("GET", `/alerts/${alertId}/deliveries`), [alertId]);
  if (loaded.loading && !loaded.data) return html`<${Loading} />`;
  if (loaded.error) return html`<${ErrorText} error=${loaded.error} />`;
  return html`<${Table} label="Deliveries" head=${["Webhook", "State", "Attempts", "Last attempt", "Answer", "Next attempt"]}>
    ${loaded.data.deliveries.map((d) => html`<tr>
      <td><code>${d.webhook_id}</code></td>
      <td><${Badge} kind=${STATE_BADGE[d.state]}>${d.state}<//></td>
      <td class="num">${d.attempts}</td>
      <td>${d.last_attempt_at ? html`<${Time} iso=${d.last_attempt_at} />` : html`<span class="muted">—</span>`}</td>
      <td class="wrap">${d.last_status_code ? `HTTP ${d.last_status_code}` : ""} ${d.last_error || ""}</td>
      <td>${d.state === "pending" ? html`<${Time} iso=${d.next_attempt_at} />` : html`<span class="muted">—</span>`}</td>
    </tr>`)}
  <//>`;
}

function Webhooks() {
  const hooks = useAsync(() => api("GET", "/alerts/webhooks"), []);
  const [created, setCreated] = useState(null);
  const [removing, setRemoving] = useState(null);
  const [notice, setNotice] = useState("");
  const action = useAction();
  const rows = (hooks.data && hooks.data.webhooks) || [];
  const toggle = (hook) =>
    action.run(async () => {
      await api("PATCH", `/alerts/webhooks/${encodeURIComponent(hook.id)}`, { active: !hook.active });
      setNotice(`${hook.url} is ${hook.active ? "paused: its deliveries wait" : "active again"}.`);
      hooks.reload();
    });
  const remove = () =>
    action.run(async () => {
      await api("DELETE", `/alerts/webhooks/${encodeURIComponent(removing.id)}`);
      setNotice(`${removing.url} is removed.`);
      setRemoving(null);
      hooks.reload();
    });

  return html`<${Card} title="Webhooks" id="webhooks-title">
    <p class="muted small">Each delivery is a JSON POST signed with the webhook's secret
      (<code>X-Kaixu-Signature: t=…,v1=…</code>, HMAC-SHA256 of <code>t.body</code>), retried with backoff for a day.</p>
    <${Success}>${notice}<//>
    <${ErrorText} error=${hooks.error || (!removing && action.error)} />
    ${created && html`<section class="secret" aria-labelledby="webhook-secret-title">
      <h3 id="webhook-secret-title">Signing secret of ${created.url}</h3>
      <p class="warning"><strong>Store it now.</strong> It is shown this once; the receiver needs it to check signatures.</p>
      <div class="secret-row"><code class="secret-value" data-testid="webhook-secret">${created.secret}</code>
        <${CopyButton} text=${created.secret} label="Copy secret" /></div>
      <button type="button" class="secondary" onClick=${() => setCreated(null)}>I have stored it — hide the secret</button>
    </section>`}
    ${hooks.loading && !hooks.data ? html`<${Loading} />`
      : rows.length ? html`<${Table} label="Webhooks" head=${["URL", "Alerts", "State", "Created", "Actions"]}>
          ${rows.map((hook) => html`<tr data-webhook=${hook.url}>
            <td class="wrap"><code>${hook.url}</code></td>
            <td>${hook.events ? hook.events.join(", ") : "all"}</td>
            <td>${hook.active ? html`<${Badge} kind="ok">Active<//>` : html`<${Badge} kind="off">Paused<//>`}</td>
            <td><${Time} iso=${hook.created_at} /></td>
            <td class="actions-cell"><div class="row-actions">
              <button type="button" class="secondary small" disabled=${action.busy} onClick=${() => toggle(hook)}
                aria-label=${`${hook.active ? "Pause" : "Resume"} ${hook.url}`}>${hook.active ? "Pause" : "Resume"}</button>
              <button type="button" class="danger small" aria-label=${`Remove ${hook.url}`}
                onClick=${() => { action.setError(null); setRemoving(hook); }}>Remove</button>
            </div></td>
          </tr>`)}
        <//>`
      : html`<${Empty} title="No webhook yet.">Alerts are listed above either way; add a webhook to be told.<//>`}
    <${AddWebhook} onAdded=${(hook) => { setCreated(hook); setNotice(""); hooks.reload(); }} />
    ${removing && html`<${ConfirmDialog} title=${`Remove the webhook ${removing.url}?`} confirmLabel="Remove webhook"
      busyLabel="Removing…" danger busy=${action.busy} error=${action.error} onConfirm=${remove}
      onCancel=${() => setRemoving(null)}>Its pending deliveries are dropped.<//>`}
  <//>`;
}

function AddWebhook({ onAdded }) {
  const [url, setUrl] = useState("");
  const [kinds, setKinds] = useState({ threshold: true, credit_low: true });
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const chosen = Object.keys(kinds).filter((kind) => kinds[kind]);
      if (!chosen.length) throw new Error("Choose at least one kind of alert.");
      const body = { url: url.trim() };
      if (chosen.length < 2) body.events = chosen;
      const { webhook } = await api("POST", "/alerts/webhooks", body);
      setUrl("");
      onAdded(webhook);
    });
  };
  return html`<form class="form-grid" onSubmit=${submit}>
    <${Field} label="Webhook URL" type="url" value=${url} onInput=${(e) => setUrl(e.target.value)} placeholder="https://example.com/kaixu-alerts" />
    <fieldset class="field"><legend>Alerts it takes</legend>
      <${Checkbox} label="Thresholds of the allowance" checked=${kinds.threshold} onChange=${(v) => setKinds({ ...kinds, threshold: v })} />
      <${Checkbox} label="Credit running low" checked=${kinds.credit_low} onChange=${(v) => setKinds({ ...kinds, credit_low: v })} />
    </fieldset>
    <div class="form-actions">
      <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Adding…">Add webhook<//>
      <${ErrorText} error=${action.error} />
    </div>
  </form>`;
}
