// The sign-in screen: the admin password for a session token (kept in sessionStorage).
import { html, useEffect, useRef, useState } from "../vendor/imports.js";
import { api, session } from "../api.js";
import { Button, ErrorText, useAction } from "../components/ui.js";

export function Login({ message, onSignedIn }) {
  const [password, setPassword] = useState("");
  const action = useAction();
  const input = useRef(null);
  useEffect(() => input.current && input.current.focus(), []);

  const submit = (event) => {
    event.preventDefault();
    if (!password) {
      action.setError(new Error("Enter the admin password."));
      input.current.focus();
      return;
    }
    action.run(async () => {
      try {
        const body = await api("POST", "/login", { password }, { auth: false });
        session.start(body.token, body.expires_at);
        onSignedIn();
      } catch (error) {
        input.current && input.current.select();
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
          <label for="password">Admin password</label>
          <input id="password" ref=${input} type="password" autocomplete="current-password"
            value=${password} onInput=${(event) => setPassword(event.target.value)} />
        </div>
        <${Button} type="submit" kind="primary wide" busy=${action.busy} busyLabel="Signing in…">Sign in<//>
        <${ErrorText} error=${action.error} />
      </form>
      <p class="muted small">The password is printed when the gateway starts (or set with <code>ADMIN_PASSWORD</code>).</p>
    </section>
  </main>`;
}
