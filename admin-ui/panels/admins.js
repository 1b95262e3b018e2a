// Admins (owners only): the named accounts, their roles, and creating, changing, disabling and
// removing them. Disabling or removing one ends its sessions at once, on every gateway process.
import { html, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import { Field } from "../components/fields.js";
import {
  Badge, Button, Card, ConfirmDialog, Empty, ErrorText, Loading, PanelHeader, Success, Table, Time,
  useAction, useAsync,
} from "../components/ui.js";

const ROLES = [
  ["owner", "Owner — everything, admins and prices included"],
  ["operator", "Operator — customers, keys, credit, devices, invoices"],
  ["viewer", "Viewer — reads and exports only"],
];

export function AdminsPanel() {
  const admins = useAsync(() => api("GET", "/admins"), []);
  const [notice, setNotice] = useState("");
  const [removing, setRemoving] = useState(null);
  const action = useAction();
  const rows = (admins.data && admins.data.admins) || [];

  const change = (admin, body, message) =>
    action.run(async () => {
      await api("PATCH", `/admins/${admin.id}`, body);
      setNotice(message);
      admins.reload();
    });
  const remove = () =>
    action.run(async () => {
      await api("DELETE", `/admins/${removing.id}`);
      setNotice(`${removing.email} is removed; their sessions have ended.`);
      setRemoving(null);
      admins.reload();
    });

  return html`
    <${PanelHeader} title="Admins">
      Named accounts for the team. The admin password stays the bootstrap owner.<//>
    <${Success}>${notice}<//>
    <${Card} title="Accounts" id="admins-title">
      <${ErrorText} error=${admins.error || (!removing && action.error)} />
      ${admins.loading && !admins.data ? html`<${Loading} />`
        : rows.length ? html`<${Table} label="Admin accounts" head=${["Email", "Role", "Second factor", "Status", "Last sign-in", "Actions"]}>
            ${rows.map((a) => html`<tr data-admin=${a.email}>
              <td>${a.email}</td>
              <td><select aria-label=${`Role of ${a.email}`} value=${a.role} disabled=${action.busy}
                onChange=${(e) => change(a, { role: e.target.value }, `${a.email} is now ${e.target.value}.`)}>
                ${ROLES.map(([role]) => html`<option value=${role}>${role}</option>`)}
              </select></td>
              <td>${a.totp_enabled ? html`<${Badge} kind="ok">On<//>` : html`<span class="muted">Off</span>`}</td>
              <td>${a.disabled ? html`<${Badge} kind="off">Disabled<//>` : html`<${Badge} kind="ok">Active<//>`}</td>
              <td>${a.last_login_at ? html`<${Time} iso=${a.last_login_at} />` : html`<span class="muted">Never</span>`}</td>
              <td class="actions-cell">
                <button type="button" class="secondary small" disabled=${action.busy}
                  aria-label=${`${a.disabled ? "Enable" : "Disable"} ${a.email}`}
                  onClick=${() => change(a, { disabled: !a.disabled }, `${a.email} is ${a.disabled ? "enabled" : "disabled; their sessions have ended"}.`)}>
                  ${a.disabled ? "Enable" : "Disable"}</button>
                ${a.totp_enabled && html`<button type="button" class="secondary small" disabled=${action.busy}
                  aria-label=${`Remove the second factor of ${a.email}`}
                  onClick=${() => change(a, { totp_enabled: false }, `${a.email} signs in with the password alone until they enrol again.`)}>Reset 2FA</button>`}
                <button type="button" class="danger small" aria-label=${`Remove ${a.email}`}
                  onClick=${() => { action.setError(null); setRemoving(a); }}>Remove</button>
              </td>
            </tr>`)}
          <//>`
        : html`<${Empty} title="No accounts yet.">Create one below for each person; they sign in with their email.<//>`}
    <//>
    <${CreateAdmin} onCreated=${(admin) => { setNotice(`${admin.email} can sign in now, as ${admin.role}.`); admins.reload(); }} />
    ${removing && html`<${ConfirmDialog} title=${`Remove ${removing.email}?`} confirmLabel="Remove account"
      busyLabel="Removing…" danger busy=${action.busy} error=${action.error} onConfirm=${remove}
      onCancel=${() => setRemoving(null)}>
      Their sessions end at once. The audit log keeps what they did.<//>`}
  `;
}

function CreateAdmin({ onCreated }) {
  const empty = { email: "", role: "viewer", password: "" };
  const [form, setForm] = useState(empty);
  const action = useAction();
  const set = (name) => (event) => setForm({ ...form, [name]: event.target.value });
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const { admin } = await api("POST", "/admins", form);
      setForm(empty);
      onCreated(admin);
    });
  };
  return html`<${Card} title="Add an admin" id="create-admin-title">
    <form class="form-grid" onSubmit=${submit}>
      <${Field} label="Email" type="email" autocomplete="off" value=${form.email} onInput=${set("email")} />
      <div class="field">
        <label for="new-admin-role">Role</label>
        <select id="new-admin-role" value=${form.role} onChange=${set("role")}>
          ${ROLES.map(([role, text]) => html`<option value=${role}>${text}</option>`)}
        </select>
      </div>
      <${Field} label="Initial password" type="password" autocomplete="new-password" value=${form.password}
        onInput=${set("password")} hint="At least 12 characters; they can change it under My account." />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Creating…">Create account<//>
        <${ErrorText} error=${action.error} />
      </div>
    </form>
  <//>`;
}
