// Billing & controls: a customer's policy, prepaid credit (manual and Stripe Checkout), the
// credit history, and frozen invoice snapshots.
import { html, useEffect, useState } from "../vendor/imports.js";
import { api, download } from "../api.js";
import { centsToDollars, currentMonth, dollarsToCents, formatCents, listText, parseList, parsePositiveInt } from "../format.js";
import { Checkbox, Field, ProvidersField } from "../components/fields.js";
import {
  Badge, Button, Card, CustomerPicker, Empty, ErrorText, Loading, Money, NeedCustomer, PanelHeader,
  Success, Table, Time, useAction, useAsync, usePaged,
} from "../components/ui.js";
import { can } from "../roles.js";

export function BillingPanel({ app }) {
  const cid = app.selected;
  const path = cid ? `/customers/${encodeURIComponent(cid)}` : "";
  const customer = useAsync(() => (cid ? api("GET", path) : null), [cid]);
  const topups = useAsync(() => (cid ? api("GET", `${path}/topups`) : null), [cid]);
  const invoices = useAsync(() => (cid ? api("GET", `${path}/invoices`) : null), [cid]);
  const current = customer.data && customer.data.customer;
  const creditChanged = () => {
    customer.reload();
    topups.reload();
    app.reloadCustomers();
  };

  return html`
    <${PanelHeader} title="Billing & controls" tools=${html`<${CustomerPicker} app=${app} />`}>
      What a customer may do and spend, their prepaid credit, and invoice snapshots.<//>
    <${NeedCustomer} app=${app} />
    ${cid && html`
      <${ErrorText} error=${customer.error} />
      ${!current ? html`<${Loading} />` : html`
        <div class="columns">
          <${PolicyForm} key=${cid} customer=${current}
            onSaved=${() => { customer.reload(); app.reloadCustomers(); }} />
          <div class="stack">
            <${CreditCard} customer=${current} path=${path} onChanged=${creditChanged} />
            ${can("operator") && html`<${CheckoutCard} path=${path} />`}
          </div>
        </div>
        <${TopupHistory} topups=${topups} />
        <${Invoices} cid=${cid} path=${path} invoices=${invoices} />
      `}
    `}
  `;
}

function policyForm(c) {
  return {
    name: c.name || "",
    plan: c.plan || "",
    cap: centsToDollars(c.monthly_cap_cents),
    rpm: c.rpm_limit ? String(c.rpm_limit) : "",
    active: c.active,
    providers: c.allowed_providers,
    models: listText(c.allowed_models),
    thresholds: listText(c.alert_thresholds),
    creditLow: centsToDollars(c.credit_low_cents),
  };
}

/** "50, 80, 100" to [50, 80, 100]: whole percents 1–100; empty: no threshold alerts. */
function parsePercents(text) {
  const items = parseList(text) || [];
  const percents = items.map((item) => Number(item.replace(/%$/, "")));
  if (percents.some((p) => !Number.isInteger(p) || p < 1 || p > 100)) {
    throw new Error("Alert thresholds are whole percents from 1 to 100, like 50, 80, 100.");
  }
  return [...new Set(percents)].sort((a, b) => a - b);
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function PolicyForm({ customer, onSaved }) {
  const [form, setForm] = useState(() => policyForm(customer));
  const [saved, setSaved] = useState("");
  const action = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });

  const submit = (event) => {
    event.preventDefault();
    setSaved("");
    action.run(async () => {
      const wanted = {
        name: form.name.trim(),
        plan: form.plan.trim() || "default",
        monthly_cap_cents: dollarsToCents(form.cap, "The monthly cap") ?? 0,
        rpm_limit: parsePositiveInt(form.rpm, "The rate limit"),
        active: form.active,
        allowed_providers: form.providers,
        allowed_models: parseList(form.models),
        alert_thresholds: parsePercents(form.thresholds),
        credit_low_cents: dollarsToCents(form.creditLow, "The low-credit alert"),
      };
      // Only what changed, so the audit log shows the real change.
      const changes = Object.fromEntries(
        Object.entries(wanted).filter(([name, value]) => !same(value, customer[name] ?? null)),
      );
      if (!Object.keys(changes).length) {
        setSaved("Nothing changed.");
        return;
      }
      await api("PATCH", `/customers/${encodeURIComponent(customer.id)}`, changes);
      setSaved(`Saved: ${Object.keys(changes).join(", ")}.`);
      onSaved();
    });
  };

  return html`<${Card} title="Policy" id="policy-title">
    <form class="form-grid one" onSubmit=${submit}><fieldset class="bare" disabled=${!can("operator")}>
      <${Field} label="Name" value=${form.name} onInput=${set("name")} />
      <${Field} label="Plan" value=${form.plan} onInput=${set("plan")} />
      <${Field} label="Monthly cap (USD)" value=${form.cap} onInput=${set("cap")} inputmode="decimal"
        hint="Spend allowed per calendar month (UTC) before prepaid credit is drawn." />
      <${Field} label="Requests per minute" value=${form.rpm} onInput=${set("rpm")} inputmode="numeric"
        placeholder="No limit" hint="Across all of the customer's keys. Empty: no limit." />
      <${Checkbox} label="Active" checked=${form.active} onChange=${(active) => setForm({ ...form, active })}
        hint="Inactive customers' keys all get 401 until reactivated." />
      <${ProvidersField} value=${form.providers} onChange=${(providers) => setForm({ ...form, providers })} />
      <${Field} label="Allowed models" value=${form.models} onInput=${set("models")} placeholder="Any model"
        hint="Comma-separated; a trailing * matches a prefix (claude-*). Empty: any priced model." />
      <${Field} label="Alert thresholds (%)" value=${form.thresholds} onInput=${set("thresholds")} placeholder="No threshold alerts"
        hint="Percents of the month's allowance; each alerts once a month when spend reaches it (see Alerts)." />
      <${Field} label="Low-credit alert (USD)" value=${form.creditLow} onInput=${set("creditLow")} inputmode="decimal"
        placeholder="Off" hint="Alert once a month when the prepaid credit falls below this. Empty: off." />
      <div class="form-actions">
        ${can("operator") && html`<${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Saving…">Save policy<//>`}
        <${ErrorText} error=${action.error} />
        <${Success}>${saved}<//>
      </div>
    </fieldset></form>
  <//>`;
}

function CreditCard({ customer, path, onChanged }) {
  const [amount, setAmount] = useState("");
  const [note, setNote] = useState("");
  const [done, setDone] = useState("");
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    setDone("");
    action.run(async () => {
      const cents = dollarsToCents(amount, "The amount");
      if (!cents) throw new Error("Enter an amount in US dollars, more than zero.");
      const result = await api("POST", `${path}/topups`, { amount_cents: cents, note: note.trim() });
      setAmount("");
      setNote("");
      setDone(`Added ${formatCents(result.topup.amount_cents)}; credit is now ${formatCents(result.extra_cents)}.`);
      onChanged();
    });
  };
  return html`<${Card} title="Prepaid credit" id="credit-title">
    <p class="big-figure" data-testid="credit-balance"><${Money} cents=${customer.extra_cents} /></p>
    <p class="muted small">The month's allowance is the monthly cap (<${Money} cents=${customer.monthly_cap_cents} />)
      plus this credit. Spend past the cap draws the credit down; credit never expires.</p>
    ${can("operator") && html`<form class="form-grid one" onSubmit=${submit}>
      <${Field} label="Top-up amount (USD)" value=${amount} onInput=${(e) => setAmount(e.target.value)}
        inputmode="decimal" placeholder="5.00" />
      <${Field} label="Note" value=${note} onInput=${(e) => setNote(e.target.value)} placeholder="e.g. invoice 2026-11 paid by wire" />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Adding…">Add credit<//>
        <${ErrorText} error=${action.error} />
        <${Success}>${done}<//>
      </div>
    </form>`}
  <//>`;
}

// Whether this gateway has Stripe, learnt once per page load (the API has no settings route).
let stripeProbe = null;

function notConfigured(error) {
  return error.status === 409 && error.type === "stripe_not_configured";
}

/** Stripe Checkout: probes once whether Stripe is configured (an empty body answers 409 when it
 * is not, 400 when it is, and creates nothing), and explains a 409 whenever it comes. */
function CheckoutCard({ path }) {
  const [amount, setAmount] = useState("");
  const [configured, setConfigured] = useState(null); // null: not known yet
  const [opened, setOpened] = useState(null);
  const action = useAction();
  useEffect(() => {
    let live = true;
    stripeProbe ||= api("POST", `${path}/checkout`, {}).then(
      () => true,
      (error) => !notConfigured(error),
    );
    stripeProbe.then((known) => live && setConfigured(known));
    return () => {
      live = false;
    };
  }, [path]);

  const submit = (event) => {
    event.preventDefault();
    setOpened(null);
    action.run(async () => {
      const cents = dollarsToCents(amount, "The amount");
      if (!cents) throw new Error("Enter an amount in US dollars (at least 0.50).");
      try {
        const result = await api("POST", `${path}/checkout`, { amount_cents: cents });
        setOpened(result);
        window.open(result.url, "_blank", "noopener");
      } catch (error) {
        if (notConfigured(error)) setConfigured(false);
        throw error;
      }
    });
  };
  return html`<${Card} title="Stripe Checkout top-up" id="checkout-title">
    ${configured === false && html`<p class="notice" data-testid="stripe-not-configured">
      Stripe is not configured on this gateway, so card payments are off. To turn them on, start
      the gateway with <code>STRIPE_SECRET_KEY</code> and <code>STRIPE_WEBHOOK_SECRET</code> set, and
      point a Stripe webhook at <code>/webhooks/stripe</code>. Manual top-ups work meanwhile.</p>`}
    <p class="muted small">Opens Stripe's payment page in a new tab; the credit is added when
      Stripe confirms the payment (through the webhook), exactly once.</p>
    <form class="form-grid one" onSubmit=${submit}>
      <${Field} label="Checkout amount (USD)" value=${amount} onInput=${(e) => setAmount(e.target.value)}
        inputmode="decimal" placeholder="20.00" hint="Whole cents, from $0.50 to $10,000."
        disabled=${configured === false} />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Opening Stripe…"
          disabled=${configured === false}>Pay with Stripe Checkout<//>
        <${ErrorText} error=${action.error} />
        ${opened && html`<p class="success" role="status">Checkout session <code>${opened.session_id}</code> created.
          If no tab opened, <a href=${opened.url} target="_blank" rel="noopener noreferrer">open Stripe Checkout</a>.</p>`}
      </div>
    </form>
  <//>`;
}

function TopupHistory({ topups }) {
  const rows = (topups.data && topups.data.topups) || [];
  const paged = usePaged(rows, 10);
  return html`<${Card} title="Credit history" id="topups-title">
    <${ErrorText} error=${topups.error} />
    ${topups.loading && !topups.data ? html`<${Loading} />`
      : rows.length ? html`<${Table} label="Credit history" head=${["Time", "Amount", "Source", "Note", "By"]}>
          ${paged.rows.map((t) => html`<tr>
            <td><${Time} iso=${t.created_at} /></td>
            <td class="num"><${Money} cents=${t.amount_cents} /></td>
            <td>${t.source === "stripe" ? html`<${Badge} kind="info">Stripe<//>` : "manual"}</td>
            <td class="wrap">${t.note || html`<span class="muted">—</span>`}</td>
            <td>${t.actor || ""}</td>
          </tr>`)}
        <//>${paged.pager}`
      : html`<${Empty} title="No credit added yet." />`}
  <//>`;
}

function Invoices({ cid, path, invoices }) {
  const [month, setMonth] = useState(currentMonth());
  const [shown, setShown] = useState(null);
  const create = useAction();
  const view = useAction();
  const rows = (invoices.data && invoices.data.invoices) || [];
  const paged = usePaged(rows, 10);

  const submit = (event) => {
    event.preventDefault();
    create.run(async () => {
      const result = await api("POST", `${path}/invoices`, { month });
      setShown(result.invoice);
      invoices.reload();
    });
  };
  const open = (id) => view.run(async () => setShown((await api("GET", `/invoices/${id}`)).invoice));

  return html`<${Card} title="Invoice snapshots" id="invoices-title">
    <p class="muted small">A snapshot freezes a month's line items, credit and totals. Taking another
      of the same month makes a new version; earlier ones are kept.</p>
    ${can("operator") && html`<form class="toolbar" onSubmit=${submit}>
      <div class="field inline"><label for="invoice-month">Month</label>
        <input id="invoice-month" type="month" value=${month} max=${currentMonth()} onChange=${(e) => setMonth(e.target.value)} /></div>
      <${Button} type="submit" kind="primary" busy=${create.busy} busyLabel="Creating…">Create invoice snapshot<//>
    </form>`}
    <${ErrorText} error=${create.error || invoices.error || view.error} />
    ${rows.length ? html`<${Table} label="Invoice snapshots" head=${["ID", "Month", "Version", "Total", "Created", ""]}>
        ${paged.rows.map((inv) => html`<tr class=${shown && shown.id === inv.id ? "selected" : ""}>
          <td>${inv.id}</td><td>${inv.month}</td><td class="num">v${inv.version}</td>
          <td class="num"><${Money} cents=${inv.total_cents} /></td>
          <td><${Time} iso=${inv.created_at} /></td>
          <td class="actions-cell"><button type="button" class="secondary small" onClick=${() => open(inv.id)}
            aria-label=${`View invoice ${inv.month} v${inv.version}`}>View</button></td>
        </tr>`)}
      <//>${paged.pager}`
      : !invoices.loading && html`<${Empty} title="No snapshots yet.">Pick a month and create one.<//>`}
    ${shown && html`<${InvoiceDetail} invoice=${shown} cid=${cid} onClose=${() => setShown(null)} />`}
  <//>`;
}

export function InvoiceDetail({ invoice, onClose }) {
  const action = useAction();
  const csv = () => action.run(() => download(`/invoices/${invoice.id}.csv`, `invoice-${invoice.id}.csv`));
  return html`<section class="invoice" aria-labelledby="invoice-title" data-testid="invoice-detail">
    <div class="card-head">
      <h4 id="invoice-title">Invoice ${invoice.month} · v${invoice.version} · ${invoice.customer ? invoice.customer.name || invoice.customer_id : invoice.customer_id}</h4>
      <div class="row-gap">
        <${Button} kind="secondary small" busy=${action.busy} busyLabel="Downloading…" onClick=${csv}>Download CSV<//>
        <button type="button" class="secondary small" onClick=${onClose}>Close</button>
      </div>
    </div>
    <${ErrorText} error=${action.error} />
    <dl class="facts">
      <div><dt>Usage total</dt><dd><${Money} cents=${invoice.total_cents} /></dd></div>
      <div><dt>Monthly cap</dt><dd><${Money} cents=${invoice.cap_cents} /></dd></div>
      <div><dt>Credit added</dt><dd><${Money} cents=${invoice.credit_added_cents} /></dd></div>
      <div><dt>Credit used</dt><dd><${Money} cents=${invoice.credit_used_cents} /></dd></div>
      <div><dt>Credit balance</dt><dd><${Money} cents=${invoice.extra_cents} /></dd></div>
      <div><dt>Frozen at</dt><dd><${Time} iso=${invoice.created_at} /></dd></div>
    </dl>
    ${invoice.line_items.length
      ? html`<${Table} label="Invoice line items" head=${["Provider", "Model", "Requests", "Input tokens", "Cached input", "Cache write", "Output tokens", "Cost"]}>
          ${invoice.line_items.map((item) => html`<tr>
            <td>${item.provider}</td><td>${item.model}</td>
            <td class="num">${item.requests}</td><td class="num">${item.input_tokens}</td>
            <td class="num">${item.cached_input_tokens}</td><td class="num">${item.cache_write_tokens}</td>
            <td class="num">${item.output_tokens}</td><td class="num"><${Money} cents=${item.cost_cents} /></td>
          </tr>`)}
        <//>`
      : html`<p class="muted">No usage in this month.</p>`}
  </section>`;
}
