// Devices: the install ids seen on a customer's keys, and revoking one (its seat is freed).
import { html, useState } from "../vendor/imports.js";
import { api } from "../api.js";
import {
  Badge, ConfirmDialog, CustomerPicker, Card, Empty, ErrorText, Loading, NeedCustomer, PanelHeader,
  Success, Table, Time, useAction, useAsync, useKeyNames, usePaged,
} from "../components/ui.js";
import { can } from "../roles.js";

export function DevicesPanel({ app }) {
  const cid = app.selected;
  const path = cid ? `/customers/${encodeURIComponent(cid)}` : "";
  const [keyId, setKeyId] = useState("");
  const devices = useAsync(() => (cid ? api("GET", `${path}/devices`) : null), [cid]);
  const keys = useAsync(() => (cid ? api("GET", `${path}/keys`) : null), [cid]);
  const keyNames = useKeyNames(keys.data && keys.data.keys);
  const [confirm, setConfirm] = useState(null);
  const [notice, setNotice] = useState("");
  const action = useAction();
  const all = (devices.data && devices.data.devices) || [];
  const rows = keyId ? all.filter((d) => d.key_id === keyId) : all;
  const paged = usePaged(rows, 25);

  const revoke = () =>
    action.run(async () => {
      await api("POST", `/devices/${confirm.id}/revoke`);
      setNotice(`Install id “${confirm.install_id}” is revoked on key ${keyNames.get(confirm.key_id) || confirm.key_id}.`);
      setConfirm(null);
      devices.reload();
    });

  return html`
    <${PanelHeader} title="Devices" tools=${html`<${CustomerPicker} app=${app} />`}>
      Apps send <code>X-Kaixu-Install-Id</code>; each distinct id is a device seat on its key.<//>
    <${NeedCustomer} app=${app} />
    ${cid && html`
      <${Success}>${notice}<//>
      <${Card} title=${`Devices of ${cid}`} id="devices-title"
        actions=${html`<div class="field inline"><label for="devices-key">Key</label>
          <select id="devices-key" value=${keyId} onChange=${(e) => { setKeyId(e.target.value); paged.reset(); }}>
            <option value="">All keys</option>
            ${((keys.data && keys.data.keys) || []).map((k) => html`<option value=${k.id}>${keyNames.get(k.id)}</option>`)}
          </select></div>`}>
        <${ErrorText} error=${devices.error} />
        ${devices.loading && !devices.data ? html`<${Loading} />`
          : rows.length ? html`<${Table} label="Devices" className="sticky-actions" head=${["Key", "Install id", "First seen", "Last seen", "Revoked", "User agent", "Actions"]}>
              ${paged.rows.map((d) => html`<tr data-install-id=${d.install_id}>
                <td>${keyNames.get(d.key_id) || d.key_id}</td>
                <td><code>${d.install_id}</code></td>
                <td><${Time} iso=${d.first_seen} /></td>
                <td><${Time} iso=${d.last_seen} /></td>
                <td>${d.revoked_at ? html`<${Badge} kind="off">Revoked<//> <${Time} iso=${d.revoked_at} />` : html`<${Badge} kind="ok">Active<//>`}</td>
                <td class="wrap ua">${d.user_agent || html`<span class="muted">—</span>`}</td>
                <td class="actions-cell">${!d.revoked_at && can("operator") && html`<button type="button" class="danger small"
                  aria-label=${`Revoke device ${d.install_id}`}
                  onClick=${() => { action.setError(null); setConfirm(d); }}>Revoke</button>`}</td>
              </tr>`)}
            <//>${paged.pager}`
          : html`<${Empty} title="No devices seen yet.">A device appears here after its first call with
              an <code>X-Kaixu-Install-Id</code> header. Limit seats per key with “Max devices” in <a href="#keys">Keys</a>.<//>`}
      <//>
      ${confirm && html`<${ConfirmDialog} title=${`Revoke device “${confirm.install_id}”?`}
          confirmLabel="Revoke device" busyLabel="Revoking…" danger=${true}
          busy=${action.busy} error=${action.error} onConfirm=${revoke} onCancel=${() => setConfirm(null)}>
          <p>Calls from this install id on key ${keyNames.get(confirm.key_id) || confirm.key_id} are refused
            at once with <strong>403 device_revoked</strong>. Its seat is freed, so a new device can take it;
            the key keeps working on other devices.</p>
        <//>`}
    `}
  `;
}
