// The sign-in screen: an account's email and password (and authenticator code when it has one),
// or, with the email left empty, the admin password. The token is kept in sessionStorage.
import { html, useEffect, useRef, useState } from "../vendor/imports.js";
import { api, session } from "../api.js";
import { Button, ErrorText, useAction } from "../components/ui.js";

export function Login({ message, onSignedIn }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [needsCode, setNeedsCode] = useState(false);
  const action = useAction();
  const first = useRef(null);
  const passwordInput = useRef(null);
  const codeInput = useRef(null);
  useEffect(() => first.current && first.current.focus(), []);
  useEffect(() => needsCode && codeInput.current && codeInput.current.focus(), [needsCode]);

  const submit = (event) => {
    event.preventDefault();
    if (!password) {
      action.setError(new Error(email.trim() ? "Enter your password." : "Enter the admin password."));
      passwordInput.current.focus();
      return;
    }
    const body = { password };
    if (email.trim()) body.email = email.trim();
    if (needsCode && code.trim()) body.totp = code.trim();
    action.run(async () => {
      try {
        const answer = await api("POST", "/login", body, { auth: false });
        session.start(answer.token, answer.expires_at, answer.admin);
        onSignedIn();
      } catch (error) {
        if (error.totpRequired) {
          setNeedsCode(true);
          return;
        }
        passwordInput.current && passwordInput.current.select();
        throw error;
      }
    });
  };

  return html`<main class="login-page">
    <section class="card login" aria-labelledby="login-title">
      <div class="login-brand"><span class="logo" aria-hidden="true">K</span></div>
      <h1 id="login-title">Kaixu Gateway</h1>
      <p class="muted">Operator sign-in</p>
      ${message && html`<p class="notice" role="status" data-testid="login-message">${message}</p>`}
      <form onSubmit=${submit} novalidate>
        <div class="field">
          <label for="email">Email</label>
          <input id="email" ref=${first} type="email" autocomplete="username" placeholder="Empty: the admin password"
            value=${email} onInput=${(event) => setEmail(event.target.value)} />
        </div>
        <div class="field">
          <label for="password">${email.trim() ? "Password" : "Admin password"}</label>
          <input id="password" ref=${passwordInput} type="password" autocomplete="current-password"
            value=${password} onInput=${(event) => setPassword(event.target.value)} />
        </div>
        ${needsCode && html`<div class="field">
          <label for="totp">Authenticator code</label>
          <input id="totp" ref=${codeInput} inputmode="numeric" autocomplete="one-time-code" maxlength="6"
            value=${code} onInput=${(event) => setCode(event.target.value)} />
          <p class="hint">The 6 digits your authenticator app shows for Kaixu Gateway.</p>
        </div>`}
        <${Button} type="submit" kind="primary wide" busy=${action.busy} busyLabel="Signing in…">Sign in<//>
        <${ErrorText} error=${action.error} />
      </form>
      <p class="muted small">Without an account: leave the email empty and use the admin password, printed when the gateway starts (or set with <code>ADMIN_PASSWORD</code>).</p>
    </section>
  </main>`;
}
