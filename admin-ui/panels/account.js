// My account: who is signed in, changing one's own password, and enrolling an authenticator
// app as a second factor. The bootstrap owner (the admin password) has no account to change.
import { html, useState } from "../vendor/imports.js";
import { api, session } from "../api.js";
import { Field } from "../components/fields.js";
import { Button, Card, CopyButton, ErrorText, Loading, PanelHeader, Success, useAction, useAsync } from "../components/ui.js";

export function AccountPanel() {
  const me = useAsync(() => api("GET", "/me"), []);
  const [notice, setNotice] = useState("");
  if (me.loading && !me.data) return html`<${Loading} />`;
  if (me.error) return html`<${ErrorText} error=${me.error} />`;
  const who = me.data;
  return html`
    <${PanelHeader} title="My account">
      ${who.email ? html`Signed in as <strong>${who.email}</strong>, <span data-testid="my-role">${who.role}</span>.`
        : html`Signed in with the admin password: the bootstrap owner, which has no account. Owners add named accounts under <a href="#admins">Admins</a>.`}<//>
    <${Success}>${notice}<//>
    ${who.email && html`
      <${PasswordCard} onChanged=${() => setNotice("Your password is changed; your other sessions have ended.")} />
      <${TotpCard} enabled=${who.totp_enabled}
        onEnabled=${() => { setNotice("Sign-in now asks for your authenticator's code."); session.remember({ ...who, totp_enabled: true }); me.reload(); }} />`}
  `;
}

function PasswordCard({ onChanged }) {
  const [form, setForm] = useState({ current_password: "", password: "" });
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      await api("POST", "/me/password", form);
      setForm({ current_password: "", password: "" });
      onChanged();
    });
  };
  return html`<${Card} title="Change your password" id="password-title">
    <form class="form-grid one" onSubmit=${submit}>
      <${Field} label="Current password" type="password" autocomplete="current-password" value=${form.current_password}
        onInput=${(e) => setForm({ ...form, current_password: e.target.value })} />
      <${Field} label="New password" type="password" autocomplete="new-password" value=${form.password}
        onInput=${(e) => setForm({ ...form, password: e.target.value })} hint="At least 12 characters." />
      <div class="form-actions">
        <${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Saving…">Change password<//>
        <${ErrorText} error=${action.error} />
      </div>
    </form>
  <//>`;
}

function TotpCard({ enabled, onEnabled }) {
  const [enrolment, setEnrolment] = useState(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const action = useAction();
  if (enabled) {
    return html`<${Card} title="Second factor"><p>On: sign-in asks for your authenticator's code. An owner can reset it if the device is lost.</p><//>`;
  }
  const start = (event) => {
    event.preventDefault();
    action.run(async () => {
      setEnrolment(await api("POST", "/me/totp", { current_password: password }));
      setPassword("");
    });
  };
  const confirm = (event) => {
    event.preventDefault();
    action.run(async () => {
      await api("POST", "/me/totp/confirm", { code: code.trim() });
      setEnrolment(null);
      onEnabled();
    });
  };
  return html`<${Card} title="Second factor" id="totp-title">
    ${!enrolment ? html`<p>Off. Add an authenticator app (any TOTP app) so a password alone does not open your account.</p>
        <form class="form-grid one" onSubmit=${start}>
          <${Field} label="Your password" type="password" autocomplete="current-password" value=${password}
            onInput=${(e) => setPassword(e.target.value)} hint="Asked again: a second factor changes how you sign in." />
          <div class="form-actions"><${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Starting…">Set up an authenticator<//></div>
        </form>`
      : html`<p>Add this secret to your authenticator app (or open the otpauth link on the device), then enter the code it shows.</p>
        <p><code data-testid="totp-secret">${enrolment.secret}</code> <${CopyButton} text=${enrolment.secret} label="Copy secret" /></p>
        <p class="small"><a href=${enrolment.otpauth_uri}>otpauth link</a></p>
        <form class="form-grid one" onSubmit=${confirm}>
          <${Field} label="Code from the app" inputmode="numeric" autocomplete="one-time-code" value=${code}
            onInput=${(e) => setCode(e.target.value)} />
          <div class="form-actions"><${Button} type="submit" kind="primary" busy=${action.busy} busyLabel="Checking…">Turn on<//></div>
        </form>`}
    <${ErrorText} error=${action.error} />
  <//>`;
}
