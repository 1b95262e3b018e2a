// Keys: a customer's master and sub-keys; create, edit, rotate and revoke, new keys shown once.
import { html, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { allowlistText, centsToDollars, dollarsToCents, listText, parseList, parsePositiveInt } from "../format.js";
import { Checkbox, Field, ProvidersField } from "../components/fields.js";
import {
  Badge, Button, Card, ConfirmDialog, CustomerPicker, Empty, ErrorText, Loading, Money, NeedCustomer,
  PanelHeader, SecretOnce, Success, Table, Time, useAction, useAsync, usePaged,
} from "../components/ui.js";
import { can } from "../roles.js";

export function KeysPanel({ app }) {
  const cid = app.selected;
  const keys = useAsync(() => (cid ? api("GET", `/customers/${encodeURIComponent(cid)}/keys`) : null), [cid]);
  const [secret, setSecret] = useState(null);
  const [confirm, setConfirm] = useState(null); // {action: "rotate" | "revoke", key}
  const [editing, setEditing] = useState(null);
  const [notice, setNotice] = useState("");
  const [hideRevoked, setHideRevoked] = useState(false);
  const action = useAction();

  const all = (keys.data && keys.data.keys) || [];
  const shown = hideRevoked ? all.filter((k) => !k.revoked_at) : all;
  const paged = usePaged(shown, 25);
  const subKeys = all.filter((k) => k.kind === "sub");

  const afterChange = () => {
    keys.reload();
    app.reloadCustomers();
  };
  const runConfirmed = () =>
    action.run(async () => {
      const { action: what, key } = confirm;
      const result = await api("POST", `/keys/${encodeURIComponent(key.id)}/${what}`);
      setConfirm(null);
      if (what === "rotate") {
        setSecret({ title: `New key replacing …${key.last4}`, key: result.key });
        setNotice(`Key …${key.last4} is revoked; its replacement …${result.key.last4} has the same settings.`);
      } else {
        setNotice(`Key …${key.last4} is revoked. Calls with it now get 401.`);
      }
      if (editing && editing.id === key.id) setEditing(null);
      afterChange();
    });

  return html`
    <${PanelHeader} title="Keys" tools=${html`<${CustomerPicker} app=${app} />`}>
      Every customer has one master key; sub-keys give each app or team its own cap, rate limit,
      device seats and allowlists.<//>
    <${NeedCustomer} app=${app} />
    ${cid && html`
      ${secret && html`<${SecretOnce} title=${secret.title} secret=${secret.key.key} onDone=${() => setSecret(null)} />`}
      <${Success}>${notice}<//>
      <${Card} title=${`Keys of ${cid}`} id="keys-title"
        actions=${html`<label class="check"><input type="checkbox" checked=${hideRevoked}
          onChange=${(event) => { setHideRevoked(event.target.checked); paged.reset(); }} /> Hide revoked keys</label>`}>
        ${keys.error && html`<${ErrorText} error=${keys.error} />`}
        ${keys.loading && !keys.data ? html`<${Loading} />` : html`
          ${shown.length > 0 && html`<${Table} label="Keys" className="sticky-actions" head=${[
            "ID", "Kind", "Last 4", "Label", "Cap override", "RPM override", "Max devices", "Require install",
            "Allowed providers", "Allowed models", "Revoked", "Created", "Actions"]}>
            ${paged.rows.map((key) => html`<${KeyRow} key=${key.id} apiKey=${key}
              onRotate=${() => { action.setError(null); setConfirm({ action: "rotate", key }); }}
              onRevoke=${() => { action.setError(null); setConfirm({ action: "revoke", key }); }}
              onEdit=${() => setEditing(key)} />`)}
          <//>${paged.pager}`}
          ${!subKeys.length && html`<${Empty} title="No sub-keys yet.">
            Create one with “Create a sub-key” below: give it a label (the app or team it is for) and
            any limits. Its key is shown once, to hand to that app.<//>`}
        `}
      <//>
      ${!can("operator") ? null : editing
        ? html`<${KeyForm} key=${`edit-${editing.id}`} cid=${cid} editing=${editing}
            onCancel=${() => setEditing(null)}
            onSaved=${(key) => { setEditing(null); setNotice(`Key …${key.last4} saved.`); afterChange(); }} />`
        : html`<${KeyForm} key="create" cid=${cid}
            onSaved=${(key) => { setSecret({ title: `New sub-key${key.label ? ` “${key.label}”` : ""}`, key }); setNotice(""); afterChange(); }} />`}
      ${confirm && html`<${ConfirmDialog}
          title=${confirm.action === "rotate" ? `Rotate key …${confirm.key.last4}?` : `Revoke key …${confirm.key.last4}?`}
          confirmLabel=${confirm.action === "rotate" ? "Rotate key" : "Revoke key"}
          busyLabel=${confirm.action === "rotate" ? "Rotating…" : "Revoking…"}
          danger=${true} busy=${action.busy} error=${action.error}
          onConfirm=${runConfirmed} onCancel=${() => setConfirm(null)}>
          ${confirm.action === "rotate"
            ? html`<p>A new key with the same settings is created and shown once. The old
                key <strong>stops working immediately</strong>, on every gateway process: apps still using it
                get 401 until they switch to the new key.</p>`
            : html`<p>The key <strong>stops working immediately</strong>, on every gateway process: every
                call with it gets 401. This cannot be undone; to replace a key without a gap, rotate it instead.</p>`}
          ${confirm.key.kind === "master" && html`<p class="warning">This is the customer's master key.</p>`}
        <//>`}
    `}
  `;
}

function KeyRow({ apiKey: key, onRotate, onRevoke, onEdit }) {
  const revoked = Boolean(key.revoked_at);
  return html`<tr class=${revoked ? "revoked" : ""} data-key-id=${key.id}>
    <td><code class="small">${key.id}</code></td>
    <td>${key.kind === "master" ? html`<${Badge} kind="info">master<//>` : "sub"}</td>
    <td><code>…${key.last4}</code></td>
    <td class="wrap">${key.label || html`<span class="muted">—</span>`}</td>
    <td class="num">${key.cap_cents === null ? html`<span class="muted">none</span>` : html`<${Money} cents=${key.cap_cents} />`}</td>
    <td class="num">${key.rpm_limit ?? html`<span class="muted">none</span>`}</td>
    <td class="num">${key.max_devices ?? html`<span class="muted">any</span>`}</td>
    <td>${key.require_install ? "Yes" : "No"}</td>
    <td class="wrap narrow">${allowlistText(key.allowed_providers)}</td>
    <td class="wrap">${allowlistText(key.allowed_models)}</td>
    <td>${revoked ? html`<${Badge} kind="off">Revoked<//> <${Time} iso=${key.revoked_at} />` : html`<${Badge} kind="ok">Active<//>`}</td>
    <td><${Time} iso=${key.created_at} /></td>
    <td class="actions-cell">${revoked || !can("operator") ? html`<span class="muted small">—</span>` : html`<div class="row-actions">
      <button type="button" class="secondary small" onClick=${onEdit} aria-label=${`Edit key …${key.last4}`}>Edit</button>
      <button type="button" class="secondary small" onClick=${onRotate} aria-label=${`Rotate key …${key.last4}`}>Rotate</button>
      <button type="button" class="danger small" onClick=${onRevoke} aria-label=${`Revoke key …${key.last4}`}>Revoke</button>
    </div>`}</td>
  </tr>`;
}

function initialForm(key) {
  if (!key) {
    return { label: "", cap: "", rpm: "", devices: "", requireInstall: false, providers: null, models: "" };
  }
  return {
    label: key.label || "",
    cap: centsToDollars(key.cap_cents),
    rpm: key.rpm_limit ? String(key.rpm_limit) : "",
    devices: key.max_devices ? String(key.max_devices) : "",
    requireInstall: key.require_install,
    providers: key.allowed_providers,
    models: listText(key.allowed_models),
  };
}

/** Create a sub-key, or (with `editing`) change a key's overrides; every setting is here. */
function KeyForm({ cid, editing, onSaved, onCancel }) {
  const [form, setForm] = useState(() => initialForm(editing));
  const action = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });

  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const body = {
        label: form.label.trim(),
        cap_cents: dollarsToCents(form.cap, "The key's cap"),
        rpm_limit: parsePositiveInt(form.rpm, "The rate limit"),
        max_devices: parsePositiveInt(form.devices, "Max devices"),
        require_install: form.requireInstall,
        allowed_providers: form.providers,
        allowed_models: parseList(form.models),
      };
      const result = editing
        ? await api("PATCH", `/keys/${encodeURIComponent(editing.id)}`, body)
        : await api("POST", `/customers/${encodeURIComponent(cid)}/keys`, body);
      if (!editing) setForm(initialForm(null));
      onSaved(result.key);
    });
  };

  const title = editing ? `Edit key …${editing.last4}` : "Create a sub-key";
  return html`<${Card} title=${title} id="key-form-title">
    <form class="form-grid" onSubmit=${submit}>
      <${Field} label="Label" value=${form.label} onInput=${set("label")} placeholder="e.g. iOS app"
        hint="Who or what uses this key; shown to operators only." />
      <${Field} label="Monthly cap (USD)" value=${form.cap} onInput=${set("cap")} inputmode="decimal"
        placeholder="No cap of its own" hint="This key's own monthly limit; the customer's allowance applies too. Empty: none." />
      <${Field} label="Requests per minute" value=${form.rpm} onInput=${set("rpm")} inputmode="numeric"
        placeholder="No limit" hint="This key's own rate limit. Empty: only the customer's applies." />
      <${Field} label="Max devices" value=${form.devices} onInput=${set("devices")} inputmode="numeric"
        placeholder="Any number" hint="Distinct X-Kaixu-Install-Id values this key may be used from. Empty: any." />
      <${Field} label="Allowed models" value=${form.models} onInput=${set("models")} placeholder="Any model"
        hint="Comma-separated; a trailing * matches a prefix. Empty: the customer's list applies." />
      <${ProvidersField} value=${form.providers} onChange=${(providers) => setForm({ ...form, providers })} />
      <${Checkbox} label="Require an install id" checked=${form.requireInstall}
        onChange=${(requireInstall) => setForm({ ...form, requireInstall })}
        hint="Calls without an X-Kaixu-Install-Id header are refused (403 install_id_required)." />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Saving…">${editing ? "Save key" : "Create sub-key"}<//>
        ${editing && html`<button type="button" class="secondary" onClick=${onCancel}>Cancel</button>`}
        <${ErrorText} error=${action.error} />
      </div>
    </form>
  <//>`;
}
