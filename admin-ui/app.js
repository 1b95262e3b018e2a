// The admin single-page app: sign-in, the session, the navigation and the selected customer.
import { html, render, useEffect, useMemo, useState } from "./vendor/imports.js";
import { api, session, setUnauthorizedHandler, signOut } from "./api.js";
import { customerLabel, errorText } from "./components/ui.js";
import { Login } from "./panels/login.js";
import { OverviewPanel } from "./panels/overview.js";
import { CustomersPanel } from "./panels/customers.js";
import { KeysPanel } from "./panels/keys.js";
import { UsagePanel } from "./panels/usage.js";
import { BillingPanel } from "./panels/billing.js";
import { DevicesPanel } from "./panels/devices.js";
import { ExportsPanel } from "./panels/exports.js";
import { AuditPanel } from "./panels/audit.js";
import { PricingPanel } from "./panels/pricing.js";
import { UpstreamsPanel } from "./panels/upstreams.js";
import { IntegrationPanel } from "./panels/integration.js";
import { AdminsPanel } from "./panels/admins.js";
import { AlertsPanel } from "./panels/alerts.js";
import { AccountPanel } from "./panels/account.js";
import { can } from "./roles.js";

const PANELS = [
  { id: "overview", title: "Overview", component: OverviewPanel },
  { id: "customers", title: "Customers", component: CustomersPanel },
  { id: "keys", title: "Keys", component: KeysPanel },
  { id: "usage", title: "Usage", component: UsagePanel },
  { id: "billing", title: "Billing & controls", component: BillingPanel },
  { id: "devices", title: "Devices", component: DevicesPanel },
  { id: "exports", title: "Exports & invoices", component: ExportsPanel },
  { id: "alerts", title: "Alerts", component: AlertsPanel },
  { id: "audit", title: "Audit", component: AuditPanel },
  { id: "pricing", title: "Pricing", component: PricingPanel },
  { id: "upstreams", title: "Upstreams", component: UpstreamsPanel },
  { id: "integration", title: "Integration", component: IntegrationPanel },
  { id: "admins", title: "Admins", component: AdminsPanel, role: "owner" },
  { id: "account", title: "My account", component: AccountPanel },
];
const SELECTED_KEY = "kaixu.admin.customer";
const EXPIRED = "Your session has expired or is no longer valid. Sign in again.";

// The panels the signed-in role may open (a panel's `role`: the least it needs).
function visiblePanels() {
  return PANELS.filter((panel) => !panel.role || can(panel.role));
}

function currentPanel() {
  const id = location.hash.replace(/^#\/?/, "");
  const panels = visiblePanels();
  return panels.find((panel) => panel.id === id) || panels[0];
}

function useRoute() {
  const [panel, setPanel] = useState(currentPanel);
  useEffect(() => {
    const onChange = () => setPanel(currentPanel());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return panel;
}

function Dashboard({ onSignOut }) {
  const panel = useRoute();
  const [who, setWho] = useState(session.who);
  useEffect(() => {
    // The role may have changed since this tab signed in: ask the gateway, then show that.
    api("GET", "/me").then((me) => {
      session.remember(me);
      setWho(me);
    }, () => {});
  }, []);
  const [customers, setCustomers] = useState(null);
  const [customersError, setCustomersError] = useState(null);
  const [selected, setSelected] = useState(sessionStorage.getItem(SELECTED_KEY));

  const reloadCustomers = async () => {
    try {
      const body = await api("GET", "/customers");
      setCustomers(body.customers);
      setCustomersError(null);
      return body.customers;
    } catch (error) {
      setCustomersError(error);
      return null;
    }
  };
  useEffect(() => {
    reloadCustomers();
  }, []);

  const select = (id) => {
    if (id) sessionStorage.setItem(SELECTED_KEY, id);
    else sessionStorage.removeItem(SELECTED_KEY);
    setSelected(id || null);
  };
  const selectedCustomer = useMemo(
    () => (customers || []).find((c) => c.id === selected) || null,
    [customers, selected],
  );
  const app = {
    customers: customers || [],
    customersLoaded: customers !== null,
    reloadCustomers,
    selected: selectedCustomer ? selected : null,
    selectedCustomer,
    select,
  };
  const Panel = panel.component;
  const skip = (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  };

  return html`<div class="layout">
    <a class="skip-link" href="#main" onClick=${skip}>Skip to content</a>
    <header class="topbar">
      <a class="brand" href="#overview"><span class="logo" aria-hidden="true">K</span> Kaixu Gateway <span class="brand-sub">Admin</span></a>
      <p class="topbar-customer" aria-live="polite">
        ${selectedCustomer
          ? html`<span class="muted">Customer:</span> <strong data-testid="selected-customer">${customerLabel(selectedCustomer)}</strong>`
          : html`<span class="muted">No customer selected</span>`}
      </p>
      <p class="topbar-who small" data-testid="signed-in-as">${who.email || "admin password"} · <span class="role">${who.role}</span></p>
      <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
    </header>
    <nav class="sidebar" aria-label="Sections">
      <ul>
        ${visiblePanels().map(
          (p) => html`<li><a href=${`#${p.id}`} aria-current=${p.id === panel.id ? "page" : undefined}>${p.title}</a></li>`,
        )}
      </ul>
    </nav>
    <main id="main" class="content" tabindex="-1">
      ${customersError && html`<p class="error" role="alert">Could not load the customers: ${errorText(customersError)}</p>`}
      <${Panel} key=${`${panel.id}-${who.role}`} app=${app} />
    </main>
  </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(Boolean(session.token) && !session.expired);
  const [message, setMessage] = useState(session.token && session.expired ? EXPIRED : "");

  useEffect(() => {
    if (session.expired) session.end();
    setUnauthorizedHandler(() => {
      session.end();
      setMessage(EXPIRED);
      setSignedIn(false);
    });
  }, []);

  if (!signedIn) {
    return html`<${Login} message=${message} onSignedIn=${() => {
      setMessage("");
      setSignedIn(true);
    }} />`;
  }
  return html`<${Dashboard} onSignOut=${async () => {
    await signOut();
    setMessage("You have signed out.");
    setSignedIn(false);
  }} />`;
}

render(html`<${App} />`, document.getElementById("app"));
