// The admin single-page app: sign-in, session handling and the dashboard shell.
import { api, ApiError, session } from "./api.js";

const $ = (id) => document.getElementById(id);

function show(view, message = "") {
  $("login").hidden = view !== "login";
  $("dashboard").hidden = view !== "dashboard";
  $("login-error").textContent = message;
  if (view === "login") $("password").focus();
}

async function signIn(event) {
  event.preventDefault();
  const button = $("login-button");
  const password = $("password").value;
  if (!password) {
    $("login-error").textContent = "Enter the admin password.";
    return;
  }
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    const { token } = await api("POST", "/login", { password });
    session.token = token;
    $("password").value = "";
    show("dashboard");
  } catch (error) {
    $("login-error").textContent = error instanceof ApiError ? error.message : String(error);
  } finally {
    button.disabled = false;
    button.textContent = "Sign in";
  }
}

function signOut(message = "") {
  session.token = null;
  show("login", message);
}

$("login-form").addEventListener("submit", signIn);
$("logout-button").addEventListener("click", () => signOut());
show(session.token ? "dashboard" : "login");
