// Customers: the list (search, select), and creating a customer with its master key.
import { html, useMemo, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { dollarsToCents, parseList, parsePositiveInt } from "../format.js";
import { Field, ProvidersField } from "../components/fields.js";
import {
  Badge, Button, Card, Empty, ErrorText, Loading, Money, PanelHeader, SecretOnce, Table, Time,
  YesNo, usePaged,
} from "../components/ui.js";
import { can } from "../roles.js";

export function CustomersPanel({ app }) {
  const [search, setSearch] = useState("");
  const [created, setCreated] = useState(null);
  const filtered = useMemo(() => {
    const needle = search.trim().toLowerCase();
    if (!needle) return app.customers;
    return app.customers.filter((c) =>
      [c.id, c.name, c.plan].some((text) => (text || "").toLowerCase().includes(needle)),
    );
  }, [app.customers, search]);
  const paged = usePaged(filtered, 25);

  return html`
    <${PanelHeader} title="Customers">Each customer has a monthly cap, prepaid credit and keys.
      Click a row to select that customer in every other panel.<//>
    ${created && html`<${SecretOnce} title=${`Master key for ${created.customer.id}`} secret=${created.key.key}
        onDone=${() => setCreated(null)}>
        <p class="muted small">The master key has the customer's own limits. Give apps sub-keys (in <a href="#keys">Keys</a>) so each can be capped and revoked alone.</p>
      <//>`}
    <${Card} title="All customers" id="customers-list-title"
      actions=${html`<div class="search"><label for="customer-search" class="visually-hidden">Search customers</label>
        <input id="customer-search" type="search" placeholder="Search by id, name or plan" value=${search}
          onInput=${(event) => { setSearch(event.target.value); paged.reset(); }} /></div>`}>
      ${!app.customersLoaded
        ? html`<${Loading} />`
        : !app.customers.length
          ? html`<${Empty} title="No customers yet.">Create the first one with the form below; its master key is shown once.<//>`
          : !filtered.length
            ? html`<${Empty} title=${`No customer matches “${search}”.`}>Clear the search to see all ${app.customers.length}.<//>`
            : html`<${Table} label="Customers" className="clickable"
                head=${["ID", "Name", "Plan", "Monthly cap", "Active", "Active keys", "Created"]}>
                ${paged.rows.map((c) => html`<tr key=${c.id} class=${c.id === app.selected ? "selected" : ""}
                    aria-current=${c.id === app.selected ? "true" : undefined} onClick=${() => app.select(c.id)}>
                  <td><button type="button" class="link" aria-label=${`Select customer ${c.id}`}
                    onClick=${(event) => { event.stopPropagation(); app.select(c.id); }}>${c.id}</button></td>
                  <td>${c.name || html`<span class="muted">—</span>`}</td>
                  <td>${c.plan}</td>
                  <td class="num"><${Money} cents=${c.monthly_cap_cents} /></td>
                  <td>${c.active ? html`<${Badge} kind="ok">Active<//>` : html`<${Badge} kind="off">Inactive<//>`}</td>
                  <td class="num">${c.active_keys}</td>
                  <td><${Time} iso=${c.created_at} /></td>
                </tr>`)}
              <//>${paged.pager}`}
    <//>
    ${can("operator") && html`<${CreateCustomer} app=${app} onCreated=${setCreated} />`}
  `;
}

const EMPTY_FORM = { id: "", name: "", plan: "", cap: "", rpm: "", providers: null, models: "" };

function CreateCustomer({ app, onCreated }) {
  const [form, setForm] = useState(EMPTY_FORM);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });

  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    let body;
    try {
      body = { monthly_cap_cents: dollarsToCents(form.cap, "The monthly cap") ?? 0 };
      if (form.id.trim()) body.id = form.id.trim();
      if (form.name.trim()) body.name = form.name.trim();
      if (form.plan.trim()) body.plan = form.plan.trim();
      const rpm = parsePositiveInt(form.rpm, "The rate limit");
      if (rpm !== null) body.rpm_limit = rpm;
      if (form.providers) body.allowed_providers = form.providers;
      const models = parseList(form.models);
      if (models) body.allowed_models = models;
    } catch (err) {
      setError(err);
      return;
    }
    setBusy(true);
    try {
      const result = await api("POST", "/customers", body);
      setForm(EMPTY_FORM);
      await app.reloadCustomers();
      app.select(result.customer.id);
      onCreated(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<${Card} title="Create customer + issue master key" id="create-customer-title">
    <form class="form-grid" onSubmit=${submit}>
      <${Field} label="Customer ID" value=${form.id} onInput=${set("id")} placeholder="acme"
        hint="Optional. Letters, digits, _ . - ; left empty, one like cus_3f9a… is made." />
      <${Field} label="Name" value=${form.name} onInput=${set("name")} placeholder="Acme Inc" />
      <${Field} label="Plan" value=${form.plan} onInput=${set("plan")} placeholder="default"
        hint="A free-form name, e.g. free, pro; empty means default." />
      <${Field} label="Monthly cap (USD)" value=${form.cap} onInput=${set("cap")} inputmode="decimal" placeholder="0.00"
        hint="What the customer may spend per calendar month (UTC), before prepaid credit. Empty: $0." />
      <${Field} label="Requests per minute" value=${form.rpm} onInput=${set("rpm")} inputmode="numeric"
        placeholder="No limit" hint="Across all of the customer's keys. Empty: no limit." />
      <${Field} label="Allowed models" value=${form.models} onInput=${set("models")}
        placeholder="Any model" hint="Comma-separated; a trailing * matches a prefix (claude-*). Empty: any priced model." />
      <${ProvidersField} value=${form.providers} onChange=${(providers) => setForm({ ...form, providers })} />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${busy} busyLabel="Creating…">Create customer + issue master key<//>
        <${ErrorText} error=${error} />
      </div>
    </form>
  <//>`;
}
