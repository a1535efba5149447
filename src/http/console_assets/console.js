// sipmap console: one page over sipmap's own API (the paths the SDKs call), signed in with a
// session cookie; every write carries the session's CSRF token. Plain JavaScript, no framework,
// nothing loaded from elsewhere. Lists are paged by the API; the page never holds a whole table.
"use strict";

const PAGE_SIZE = 25;
const state = { session: null, account: null, csrf: null, timers: [] };

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

let sayTimer = null;
function say(text) {
  $("status").textContent = text;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => { $("status").textContent = ""; }, 5000);
}

// ---------------------------------------------------------------- the API

// The path and query of a URL the API returned (v1 lists give absolute URLs on --public-url).
function local(url) {
  if (!url) return null;
  if (url.startsWith("/")) return url;
  const u = new URL(url);
  return u.pathname + u.search;
}

async function api(method, path, params) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") init.headers["X-CSRF-Token"] = state.csrf || "";
  if (params) {
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams(params).toString();
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, data: { message: `sipmap cannot be reached: ${e.message}` } };
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = { message: text };
  }
  if (res.status === 401 && state.session && !path.startsWith("/console/session")) {
    state.session = null;
    showSignIn("Your session has ended; sign in again.");
  }
  return { ok: res.ok, status: res.status, data };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// The items of a list answer: v1 names its key in meta.key, API 2010 has one array.
function itemsOf(data) {
  if (!data) return [];
  if (data.meta && Array.isArray(data[data.meta.key])) return data[data.meta.key];
  const key = Object.keys(data).find((k) => Array.isArray(data[k]));
  return key ? data[key] : [];
}

function pagesOf(data) {
  if (!data) return {};
  if (data.meta) return { next: local(data.meta.next_page_url), prev: local(data.meta.previous_page_url), page: data.meta.page };
  return { next: data.next_page_uri, prev: data.previous_page_uri, page: data.page };
}

// The parameter an API error names, if any ("Invalid parameter X: …", "Missing required parameter X …").
function namedParameter(message) {
  const m = /(?:Invalid parameter|Missing required parameter) ([\w<>]+)/.exec(message || "");
  if (m) return m[1];
  if (/^Invalid Domain/.test(message || "")) return "DomainName";
  return null;
}

function errorText(r) {
  const d = r.data || {};
  return d.message ? `${d.message}${d.code ? ` (${d.code})` : ""}` : `HTTP ${r.status}`;
}

// ---------------------------------------------------------------- resources

const acc = () => `/2010-04-01/Accounts/${state.account}`;
const yesNo = [["true", "true"], ["false", "false"]];
const methods = [["POST", "POST"], ["GET", "GET"]];

const F = {
  text: (name, label, o = {}) => ({ name, label, type: "text", ...o }),
  num: (name, label, o = {}) => ({ name, label, type: "number", ...o }),
  bool: (name, label, o = {}) => ({ name, label, type: "select", options: yesNo, ...o }),
  pick: (name, label, options, o = {}) => ({ name, label, type: "select", options, ...o }),
  secret: (name, label, o = {}) => ({ name, label, type: "password", writeOnly: true, ...o }),
  ref: (name, label, source, o = {}) => ({ name, label, type: "ref", source, ...o }),
};

const sources = {
  domains: () => ({ path: `${acc()}/SIP/Domains.json`, label: (d) => d.domain_name }),
  acls: () => ({ path: `${acc()}/SIP/IpAccessControlLists.json`, label: (d) => d.friendly_name }),
  credlists: () => ({ path: `${acc()}/SIP/CredentialLists.json`, label: (d) => d.friendly_name }),
  iprecords: () => ({ path: "/v1/IpRecords", label: (d) => `${d.ip_address}/${d.cidr_prefix_length} ${d.friendly_name || ""}` }),
  policies: () => ({ path: "/v1/ConnectionPolicies", label: (d) => d.friendly_name || d.sid }),
  trunks: () => ({ path: "/v1/ByocTrunks", label: (d) => d.friendly_name || d.sid }),
};

const voiceFields = [
  F.text("VoiceUrl", "Voice URL", { value: (r) => r.voice_url }),
  F.pick("VoiceMethod", "Voice method", methods, { value: (r) => r.voice_method }),
  F.text("VoiceFallbackUrl", "Voice fallback URL", { value: (r) => r.voice_fallback_url }),
  F.pick("VoiceFallbackMethod", "Voice fallback method", methods, { value: (r) => r.voice_fallback_method }),
];

const R = {
  accounts: {
    title: "Accounts", v2010: true, path: () => "/2010-04-01/Accounts",
    columns: [["sid", "SID"], ["friendly_name", "Name"], ["status", "Status"], ["owner_account_sid", "Parent"]],
    fields: [
      F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name }),
      F.pick("Status", "Status", [["active", "active"], ["suspended", "suspended"], ["closed", "closed"]], { create: false, value: (r) => r.status }),
    ],
    createLabel: "New subaccount", noDelete: true,
    note: "Choose the account the API 2010 pages act on in the Account menu above.",
    shown: (r) => (r.auth_token ? [h("p", { class: "secret" }, "Auth token: ", h("code", {}, r.auth_token))] : []),
  },
  keys: {
    title: "API keys", one: "API key", v2010: true, path: () => `${acc()}/Keys`,
    columns: [["sid", "SID"], ["friendly_name", "Name"], ["date_created", "Created"]],
    fields: [F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name })],
    shown: (r) => (r.secret ? [h("p", { class: "secret" }, "Secret (shown once): ", h("code", {}, r.secret))] : []),
  },
  domains: {
    title: "SIP domains", one: "SIP domain", v2010: true, path: () => `${acc()}/SIP/Domains`,
    columns: [["domain_name", "Domain"], ["friendly_name", "Name"], ["secure", "Secure"], ["sip_registration", "Registration"], ["byoc_trunk_sid", "Trunk"], ["sid", "SID"]],
    fields: [
      F.text("DomainName", "Domain name", { required: true, value: (r) => r.domain_name }),
      F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name }),
      F.bool("Secure", "Secure (TLS and SRTP only)", { value: (r) => r.secure }),
      F.bool("SipRegistration", "SIP registration", { value: (r) => r.sip_registration }),
      F.ref("ByocTrunkSid", "BYOC trunk SID", "trunks", { value: (r) => r.byoc_trunk_sid }),
      ...voiceFields,
      F.text("VoiceStatusCallbackUrl", "Status callback URL", { value: (r) => r.voice_status_callback_url }),
    ],
    detail: domainSecurity,
  },
  acls: {
    title: "IP access control lists", one: "IP access control list", v2010: true, path: () => `${acc()}/SIP/IpAccessControlLists`,
    columns: [["friendly_name", "Name"], ["sid", "SID"], ["date_updated", "Updated"]],
    fields: [F.text("FriendlyName", "Friendly name", { required: true, value: (r) => r.friendly_name })],
    children: (list) => ({
      title: "IP addresses", one: "IP address", v2010: true, path: () => `${acc()}/SIP/IpAccessControlLists/${list.sid}/IpAddresses`,
      columns: [["ip_address", "Address"], ["cidr_prefix_length", "Prefix"], ["friendly_name", "Name"], ["sid", "SID"]],
      fields: [
        F.text("FriendlyName", "Friendly name", { required: true, value: (r) => r.friendly_name }),
        F.text("IpAddress", "IP address", { required: true, value: (r) => r.ip_address }),
        F.num("CidrPrefixLength", "CIDR prefix length", { value: (r) => r.cidr_prefix_length }),
      ],
    }),
  },
  credlists: {
    title: "Credential lists", one: "credential list", v2010: true, path: () => `${acc()}/SIP/CredentialLists`,
    columns: [["friendly_name", "Name"], ["sid", "SID"], ["date_updated", "Updated"]],
    fields: [F.text("FriendlyName", "Friendly name", { required: true, value: (r) => r.friendly_name })],
    children: (list) => ({
      title: "Credentials", one: "credential", v2010: true, path: () => `${acc()}/SIP/CredentialLists/${list.sid}/Credentials`,
      columns: [["username", "Username"], ["sid", "SID"], ["date_updated", "Updated"]],
      fields: [
        F.text("Username", "Username", { required: true, update: false, value: (r) => r.username }),
        F.secret("Password", "Password (write-only)", { required: true }),
      ],
    }),
  },
  iprecords: {
    title: "IP records", one: "IP record", path: () => "/v1/IpRecords",
    columns: [["ip_address", "Address"], ["cidr_prefix_length", "Prefix"], ["friendly_name", "Name"], ["sid", "SID"]],
    fields: [
      F.text("IpAddress", "IP address", { required: true, update: false, value: (r) => r.ip_address }),
      F.num("CidrPrefixLength", "CIDR prefix length", { update: false, value: (r) => r.cidr_prefix_length }),
      F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name }),
    ],
    note: "IP records and source IP mappings belong to the signed-in account.",
  },
  mappings: {
    title: "Source IP mappings", one: "source IP mapping", path: () => "/v1/SourceIpMappings",
    columns: [["ip_record_sid", "IP record"], ["sip_domain_sid", "SIP domain"], ["sid", "SID"]],
    fields: [
      F.ref("IpRecordSid", "IP record SID", "iprecords", { required: true, update: false, value: (r) => r.ip_record_sid }),
      F.ref("SipDomainSid", "SIP domain SID", "domains", { required: true, value: (r) => r.sip_domain_sid }),
    ],
  },
  trunks: {
    title: "BYOC trunks", one: "BYOC trunk", path: () => "/v1/ByocTrunks",
    columns: [["friendly_name", "Name"], ["connection_policy_sid", "Policy"], ["from_domain_sid", "From domain"], ["sid", "SID"]],
    fields: [
      F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name }),
      F.ref("ConnectionPolicySid", "Connection policy SID", "policies", { value: (r) => r.connection_policy_sid }),
      F.ref("FromDomainSid", "From domain SID", "domains", { value: (r) => r.from_domain_sid }),
      F.bool("CnamLookupEnabled", "CNAM lookup", { value: (r) => r.cnam_lookup_enabled }),
      ...voiceFields,
      F.text("StatusCallbackUrl", "Status callback URL", { value: (r) => r.status_callback_url }),
    ],
  },
  policies: {
    title: "Connection policies", one: "connection policy", path: () => "/v1/ConnectionPolicies",
    columns: [["friendly_name", "Name"], ["sid", "SID"], ["date_updated", "Updated"]],
    fields: [F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name })],
    children: (policy) => ({
      title: "Targets", one: "target", path: () => `/v1/ConnectionPolicies/${policy.sid}/Targets`,
      columns: [["friendly_name", "Name"], ["target", "Target"], ["priority", "Priority"], ["weight", "Weight"], ["enabled", "Enabled"], ["health", "Health now"], ["history", "Last hour, a bar a minute"]],
      ...targetHealth(policy),
      fields: [
        F.text("Target", "Target (sip: URI)", { required: true, value: (r) => r.target }),
        F.text("FriendlyName", "Friendly name", { value: (r) => r.friendly_name }),
        F.num("Priority", "Priority", { value: (r) => r.priority }),
        F.num("Weight", "Weight", { value: (r) => r.weight }),
        F.bool("Enabled", "Enabled", { value: (r) => r.enabled }),
      ],
      live: 5000,
    }),
  },
  alerts: {
    title: "Alerts", path: () => "/v1/Alerts", readOnly: true, cell: alertCell,
    columns: [["date_created", "When"], ["log_level", "Level"], ["error_code", "Code"], ["alert_text", "Text"], ["resource_sid", "Resource"]],
    filters: [F.pick("LogLevel", "Log level", [["", "any"], ["error", "error"], ["warning", "warning"], ["notice", "notice"], ["debug", "debug"]]), F.text("StartDate", "From (ISO date)"), F.text("EndDate", "Until (ISO date)")],
  },
  events: {
    title: "Events", path: () => "/v1/Events", readOnly: true,
    columns: [["event_date", "When"], ["event_type", "Type"], ["resource_sid", "Resource"], ["actor_sid", "Actor"], ["source_ip_address", "From"]],
    filters: [F.text("ResourceSid", "Resource SID"), F.text("ActorSid", "Actor SID"), F.text("EventType", "Event type"), F.text("SourceIpAddress", "Source IP"), F.text("StartDate", "From (ISO date)"), F.text("EndDate", "Until (ISO date)")],
  },
  calls: {
    title: "Calls", v2010: true, path: () => `${acc()}/Calls`, noCreate: true,
    columns: [["start_time", "Started"], ["from", "From"], ["to", "To"], ["status", "Status"], ["duration", "Seconds"], ["sid", "SID"]],
    filters: [F.text("From", "From"), F.text("To", "To"), F.pick("Status", "Status", [["", "any"], ["queued", "queued"], ["ringing", "ringing"], ["in-progress", "in-progress"], ["completed", "completed"], ["busy", "busy"], ["failed", "failed"], ["no-answer", "no-answer"], ["canceled", "canceled"]])],
    fields: [
      F.pick("Status", "End the call", [["", "(no)"], ["completed", "completed"], ["canceled", "canceled"]], { create: false }),
      F.text("Url", "Redirect to TwiML URL", { create: false }),
      F.pick("Method", "Redirect method", methods, { create: false }),
      F.text("Twiml", "Replace with TwiML", { create: false }),
    ],
    children: (call) => [
      { title: "Call events", v2010: true, path: () => `${acc()}/Calls/${call.sid}/Events`, readOnly: true, columns: [["request", "Request"], ["response", "Response"]], cell: jsonCell },
      { title: "Notifications", v2010: true, path: () => `${acc()}/Calls/${call.sid}/Notifications`, readOnly: true, columns: [["message_date", "When"], ["log", "Level"], ["error_code", "Code"], ["message_text", "Text"]] },
    ],
  },
};

const PAGES = [
  ["decisions", "Decisions"], ["domains", "SIP domains"], ["acls", "IP access control lists"], ["credlists", "Credential lists"],
  ["iprecords", "IP records"], ["mappings", "Source IP mappings"], ["trunks", "BYOC trunks"], ["policies", "Connection policies"],
  ["alerts", "Alerts"], ["events", "Events"], ["calls", "Calls"], ["accounts", "Accounts"], ["keys", "API keys"],
];

// ---------------------------------------------------------------- forms

function fieldInput(f, id, current, editing) {
  if (f.type === "select") {
    const sel = h("select", { id, name: f.name });
    if (!f.required && !f.options.some(([v]) => v === "")) sel.append(h("option", { value: "" }, editing ? "(unchanged)" : "(default)"));
    for (const [v, label] of f.options) sel.append(h("option", { value: v, selected: String(current) === v }, label));
    return sel;
  }
  const input = h("input", {
    id, name: f.name, type: f.type === "password" ? "password" : f.type === "number" ? "number" : "text",
    value: current ?? "", spellcheck: "false", autocomplete: f.type === "password" ? "new-password" : "off",
  });
  if (f.type === "ref") {
    const listId = `${id}-options`;
    input.setAttribute("list", listId);
    const dl = h("datalist", { id: listId });
    const src = sources[f.source]();
    api("GET", `${src.path}${query({ PageSize: 50 })}`).then((r) => {
      for (const item of itemsOf(r.data)) dl.append(h("option", { value: item.sid }, src.label(item)));
    });
    return [input, dl];
  }
  return input;
}

// A form of `fields` (create: all, else the updatable ones) that sends what was filled in or
// changed and shows the API's message beside the field it names.
function resourceForm({ fields, record, submitLabel, onSubmit }) {
  const errors = {};
  const general = h("p", { class: "error", role: "alert" });
  const shown = fields.filter((f) => (record ? f.update !== false : f.create !== false));
  const form = h("form", { class: "resource-form", novalidate: true });
  for (const f of shown) {
    const id = nextId("f");
    const current = record && f.value ? f.value(record) : "";
    const err = h("span", { class: "error", id: `${id}-error` });
    errors[f.name] = err;
    const control = fieldInput(f, id, current === null ? "" : current, Boolean(record));
    const first = Array.isArray(control) ? control[0] : control;
    first.setAttribute("aria-describedby", err.id);
    form.append(h("div", { class: "field" }, h("label", { for: id }, f.label, f.required && !record ? " *" : ""), control, err));
  }
  form.append(general, h("button", { type: "submit" }, submitLabel));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const e of Object.values(errors)) e.textContent = "";
    general.textContent = "";
    const params = {};
    for (const f of shown) {
      const el = form.elements[f.name];
      const v = el.value;
      const before = record && f.value ? String(f.value(record) ?? "") : "";
      if (record ? v !== before && !(v === "" && f.type === "select") : v !== "") params[f.name] = v;
    }
    const r = await onSubmit(params);
    if (!r.ok) {
      const name = namedParameter(r.data && r.data.message);
      if (name && errors[name]) {
        errors[name].textContent = errorText(r);
        form.elements[name].setAttribute("aria-invalid", "true");
        form.elements[name].focus();
      } else general.textContent = errorText(r);
    }
  });
  return form;
}

// ---------------------------------------------------------------- lists

function cellText(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// An alert about a SIP domain links to that domain's recent decisions.
function alertCell(item, key) {
  const v = item[key];
  if (key === "resource_sid" && typeof v === "string" && v.startsWith("SD")) {
    return h("a", { href: `#/decisions?Domain=${encodeURIComponent(v)}`, title: "This domain's recent decisions" }, v);
  }
  return cellText(v);
}

function jsonCell(item, key) {
  return h("code", { class: "json" }, cellText(item[key]));
}

// A paged list of `spec`'s resource: filters, a table, Previous/Next, a create form, and each
// row's detail (edit, delete, children).
function listView(spec, opts = {}) {
  const root = h("section", { class: "list" });
  const heading = opts.nested ? "h2" : "h1";
  root.append(h(heading, {}, spec.title));
  if (spec.note) root.append(h("p", { class: "note" }, spec.note));
  const filters = {};
  let current = `${spec.path()}${spec.v2010 ? ".json" : ""}${query({ PageSize: PAGE_SIZE })}`;
  const body = h("div");
  const detail = h("div", { class: "detail" });

  if (spec.filters) {
    const form = h("form", { class: "filters", role: "search" });
    for (const f of spec.filters) {
      const id = nextId("q");
      const control = f.type === "select"
        ? h("select", { id, name: f.name }, f.options.map(([v, l]) => h("option", { value: v }, l)))
        : h("input", { id, name: f.name, spellcheck: "false" });
      form.append(h("div", { class: "field" }, h("label", { for: id }, f.label), control));
    }
    form.append(h("button", { type: "submit" }, "Filter"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      for (const f of spec.filters) filters[f.name] = form.elements[f.name].value;
      current = `${spec.path()}${spec.v2010 ? ".json" : ""}${query({ ...filters, PageSize: PAGE_SIZE })}`;
      load();
    });
    root.append(form);
  }
  if (!spec.readOnly && !spec.noCreate) {
    const create = h("details", { class: "create" }, h("summary", {}, spec.createLabel || `New ${spec.one}`));
    const created = h("div");
    create.append(resourceForm({
      fields: spec.fields, submitLabel: "Create",
      onSubmit: async (params) => {
        const r = await api("POST", `${spec.path()}${spec.v2010 ? ".json" : ""}`, params);
        if (r.ok) {
          say(`Created ${r.data.sid}`);
          const shown = spec.shown ? spec.shown(r.data) : [];
          created.replaceChildren(...shown);
          create.querySelector("form").reset();
          if (!shown.length) create.open = false;
          load();
        }
        return r;
      },
    }), created);
    root.append(create);
  }
  root.append(body, detail);

  async function load() {
    if (spec.beforeLoad) await spec.beforeLoad();
    const r = await api("GET", current);
    if (!r.ok) {
      body.replaceChildren(h("p", { class: "error api-error", role: "alert" }, `${spec.title}: ${errorText(r)}`));
      return;
    }
    const items = itemsOf(r.data);
    const pages = pagesOf(r.data);
    const table = h("table", {}, h("caption", {}, `${spec.title}, page ${(pages.page || 0) + 1}`));
    table.append(h("thead", {}, h("tr", {}, spec.columns.map(([, label]) => h("th", { scope: "col" }, label)), h("th", { scope: "col" }, h("span", { class: "sr" }, "Actions"))))); 
    const tbody = h("tbody");
    for (const item of items) {
      const open = h("button", { type: "button", class: "link", onclick: () => showDetail(item) }, spec.readOnly && !spec.children ? "View" : "Open");
      tbody.append(h("tr", {}, spec.columns.map(([key]) => h("td", {}, spec.cell ? spec.cell(item, key) : cellText(item[key]))), h("td", {}, open)));
    }
    if (!items.length) tbody.append(h("tr", {}, h("td", { colspan: spec.columns.length + 1 }, "Nothing here yet.")));
    table.append(tbody);
    const pager = h("div", { class: "pager" },
      h("button", { type: "button", disabled: !pages.prev, onclick: () => { current = pages.prev; load(); } }, "Previous"),
      h("button", { type: "button", disabled: !pages.next, onclick: () => { current = pages.next; load(); } }, "Next"));
    body.replaceChildren(table, pager);
  }

  async function showDetail(item) {
    const instance = `${spec.path()}/${item.sid}${spec.v2010 ? ".json" : ""}`;
    const r = item.sid && !spec.readOnly ? await api("GET", instance) : { ok: true, data: item };
    const record = r.ok ? r.data : item;
    const parts = [h(opts.nested ? "h3" : "h2", { tabindex: "-1" }, `${spec.title}: ${record.friendly_name || record.domain_name || record.username || record.sid || ""}`)];
    if (spec.detail) parts.push(await spec.detail(record));
    parts.push(h("details", { class: "record" }, h("summary", {}, "Every field"), h("pre", { class: "record" }, JSON.stringify(record, null, 2))));
    if (!spec.readOnly && spec.fields.some((f) => f.update !== false)) {
      parts.push(h("h4", {}, "Edit"), resourceForm({
        fields: spec.fields, record, submitLabel: "Save",
        onSubmit: async (params) => {
          const u = await api("POST", instance, params);
          if (u.ok) { say(`Saved ${record.sid}`); load(); showDetail(u.data); }
          return u;
        },
      }));
    }
    if (!spec.readOnly && !spec.noDelete && item.sid) {
      const err = h("p", { class: "error", role: "alert" });
      parts.push(h("button", {
        type: "button", class: "danger", onclick: async () => {
          if (!window.confirm(`Delete ${record.sid}?`)) return;
          const d = await api("DELETE", instance);
          if (d.ok) { say(`Deleted ${record.sid}`); detail.replaceChildren(); load(); } else err.textContent = errorText(d);
        },
      }, "Delete"), err);
    }
    if (spec.children) {
      const kids = spec.children(record);
      for (const k of Array.isArray(kids) ? kids : [kids]) parts.push(listView(k, { nested: true }));
    }
    detail.replaceChildren(...parts);
    detail.querySelector("h2, h3").focus();
  }

  load();
  if (spec.live) {
    const timer = setInterval(() => (root.isConnected ? load() : clearInterval(timer)), spec.live);
    state.timers.push(timer);
  }
  if (opts.open) showDetail({ sid: opts.open });
  return root;
}

// ---------------------------------------------------------------- a domain's security

const MAPPINGS = [
  ["Auth/Calls/IpAccessControlListMappings", "IP access control lists for calls", "acls", "IpAccessControlListSid"],
  ["Auth/Calls/CredentialListMappings", "Credential lists for calls", "credlists", "CredentialListSid"],
  ["Auth/Registrations/CredentialListMappings", "Credential lists for registrations", "credlists", "CredentialListSid"],
];

async function domainSecurity(domain) {
  const box = h("section", { class: "security" }, h("h3", {}, "Security"));
  for (const [sub, title, source, param] of MAPPINGS) {
    const path = `${acc()}/SIP/Domains/${domain.sid}/${sub}`;
    const part = h("div", { class: "mapping" });
    const draw = async () => {
      const r = await api("GET", `${path}.json${query({ PageSize: 50 })}`);
      const rows = r.ok ? itemsOf(r.data) : [];
      const list = h("ul", {}, rows.map((m) => h("li", {}, `${m.friendly_name || ""} `, h("code", {}, m.sid), " ",
        h("button", { type: "button", class: "danger small", "aria-label": `Remove ${m.friendly_name || m.sid} from ${title}`, onclick: async () => {
          const d = await api("DELETE", `${path}/${m.sid}.json`);
          if (d.ok) draw(); else err.textContent = errorText(d);
        } }, "Remove"))));
      if (!rows.length) list.append(h("li", {}, r.ok ? "none" : errorText(r)));
      const id = nextId("map");
      const select = h("select", { id, name: param });
      const src = sources[source]();
      const avail = await api("GET", `${src.path}${query({ PageSize: 50 })}`);
      for (const item of itemsOf(avail.data)) select.append(h("option", { value: item.sid }, `${src.label(item)} (${item.sid})`));
      const none = !select.options.length;
      if (none) select.append(h("option", { value: "" }, `none yet (see ${PAGES.find(([p]) => p === source)[1]})`));
      const err = h("span", { class: "error", role: "alert" });
      const add = h("form", { class: "inline" }, h("label", { for: id }, "Add"), select, h("button", { type: "submit", disabled: none }, "Map"), err);
      add.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const a = await api("POST", `${path}.json`, { [param]: select.value });
        if (a.ok) { say(`Mapped ${select.value}`); draw(); } else err.textContent = errorText(a);
      });
      part.replaceChildren(h("h4", {}, title), list, add);
    };
    await draw();
    box.append(part);
  }
  return box;
}

// ---------------------------------------------------------------- target health

// A policy's targets' health as this node's probes saw it over the last hour
// (GET /sipmap/v1/TargetHealth), read before each load of the targets' list.
function targetHealth(policy) {
  const seen = { targets: new Map(), error: null };
  return {
    beforeLoad: async () => {
      const r = await api("GET", `/sipmap/v1/TargetHealth${query({ ConnectionPolicySid: policy.sid })}`);
      seen.error = r.ok ? null : errorText(r);
      seen.targets = new Map(r.ok ? (r.data.targets || []).map((t) => [t.sid, t]) : []);
    },
    cell: (item, key) => {
      const t = seen.targets.get(item.sid);
      if (key === "health") {
        if (!t) return h("span", { class: "unknown" }, seen.error || "no health yet");
        const since = (t.destinations || []).map((d) => d.since).filter(Boolean).sort().pop();
        return h("span", { class: t.status === "up" ? "up" : t.status === "down" ? "down" : "unknown" }, t.status, since ? ` since ${since}` : "");
      }
      if (key === "history") return healthStrip(t ? t.destinations || [] : []);
      return cellText(item[key]);
    },
  };
}

// Sixty bars, the oldest minute first: green when every probe was answered, red when a
// destination was down in that minute, grey without probes.
function healthStrip(destinations) {
  const w = 4;
  const now = Math.floor(Date.now() / 60000);
  const slots = new Array(60).fill(null);
  for (const d of destinations) {
    for (const m of d.minutes || []) {
      const i = 59 - (now - Math.floor(Date.parse(m.start) / 60000));
      if (i < 0 || i > 59 || !m.probes) continue;
      slots[i] = slots[i] === "down" || m.down ? "down" : "up";
    }
  }
  const up = slots.filter((x) => x === "up").length;
  const down = slots.filter((x) => x === "down").length;
  const svg = s("svg", { width: 60 * w, height: 14, role: "img", "aria-label": `last hour: ${up} minutes up, ${down} with the target down, ${60 - up - down} without probes` });
  slots.forEach((v, i) => svg.append(s("rect", { x: i * w, y: 0, width: w - 1, height: 14, class: v === "up" ? "bar-up" : v === "down" ? "bar-down" : "bar-none" })));
  return svg;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}


// ---------------------------------------------------------------- decisions

const OUTCOMES = ["", "admitted", "forwarded", "application", "challenged", "refused", "unroutable"];
const DECISION_FILTERS = [["CallId", "Call-ID"], ["Source", "Source address"], ["Domain", "Domain (name or SID)"], ["Outcome", "Outcome"], ["StartTime>", "After (ISO time)"], ["StartTime<", "Before (ISO time)"]];

function decisionsView(preset) {
  const root = h("section", { class: "list" }, h("h1", {}, "Decisions"),
    h("p", { class: "note" }, "What the SIP edge decided for recent requests, newest first. Pick a Call-ID or a source address in the table to see only its requests; \"Why?\" explains one."));
  const why = h("form", { class: "filters", role: "search" });
  const errors = {};
  for (const [name, label] of DECISION_FILTERS) {
    const id = nextId("d");
    const control = name === "Outcome"
      ? h("select", { id, name }, OUTCOMES.map((o) => h("option", { value: o }, o || "any")))
      : h("input", { id, name, spellcheck: "false" });
    if (preset[name]) control.value = preset[name];
    errors[name] = h("span", { class: "error", id: `${id}-error` });
    control.setAttribute("aria-describedby", errors[name].id);
    why.append(h("div", { class: "field" }, h("label", { for: id }, label), control, errors[name]));
  }
  const liveId = nextId("live");
  const live = h("input", { type: "checkbox", id: liveId });
  why.append(h("button", { type: "submit" }, "Find"), h("span", { class: "check" }, live, h("label", { for: liveId }, "Live (every 2 s)")));
  const chart = h("div", { class: "traffic" });
  const scope = h("p", { class: "note" });
  const table = h("div");
  const detail = h("div", { class: "detail" });
  root.append(why, h("h2", {}, "Requests and refusals per minute, last hour"), chart, h("h2", {}, "Recent decisions"), scope, table, detail);
  let timer = null;
  let current = "";

  function find(values) {
    for (const [name] of DECISION_FILTERS) {
      if (name in values) why.elements[name].value = values[name];
      errors[name].textContent = "";
    }
    const params = { PageSize: PAGE_SIZE };
    for (const [name] of DECISION_FILTERS) params[name] = why.elements[name].value.trim();
    current = `/sipmap/v1/Decisions${query(params)}`;
    load();
  }

  // A cell that filters the list by its value in one click.
  const filterCell = (name, value) => (value
    ? h("button", { type: "button", class: "link", title: `Only ${value}`, onclick: () => find({ [name]: value }) }, value)
    : "");

  async function load() {
    const r = await api("GET", current);
    if (!r.ok) {
      const name = namedParameter(r.data && r.data.message);
      if (name && errors[name]) errors[name].textContent = errorText(r);
      table.replaceChildren(h("p", { class: "error api-error", role: "alert" }, `Decisions: ${errorText(r)}`));
      return;
    }
    scope.textContent = r.data.meta && r.data.meta.node_only ? "What this node decided (each node keeps its own recent decisions)." : "";
    const items = itemsOf(r.data);
    const pages = pagesOf(r.data);
    const cols = [["date_created", "When"], ["outcome", "Outcome"], ["response_code", "SIP"], ["error_code", "Code"], ["reason", "Reason"], ["method", "Method"], ["source", "Source"], ["domain_name", "Domain"], ["call_id", "Call-ID"]];
    const t = h("table", {}, h("caption", {}, "Recent decisions"), h("thead", {}, h("tr", {}, cols.map(([, l]) => h("th", { scope: "col" }, l)), h("th", { scope: "col" }, h("span", { class: "sr" }, "Actions")))));
    const tb = h("tbody");
    for (const d of items) {
      const source = String(d.source || "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      const cell = (k) => (k === "source" ? filterCell("Source", source) : k === "call_id" ? filterCell("CallId", d.call_id) : cellText(d[k]));
      tb.append(h("tr", { class: d.outcome === "refused" || d.response_code >= 400 ? "refused" : "" },
        cols.map(([k]) => h("td", {}, cell(k))),
        h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Why? ${d.call_id || ""}`, onclick: () => showDecision(d) }, "Why?"))));
    }
    if (!items.length) tb.append(h("tr", {}, h("td", { colspan: cols.length + 1 }, "No decisions match.")));
    t.append(tb);
    table.replaceChildren(t, h("div", { class: "pager" },
      h("button", { type: "button", disabled: !pages.prev, onclick: () => { current = pages.prev; load(); } }, "Previous"),
      h("button", { type: "button", disabled: !pages.next, onclick: () => { current = pages.next; load(); } }, "Next")));
  }

  function showDecision(d) {
    const steps = h("ol", { class: "steps" }, (d.steps || []).map((st) => h("li", { class: `step ${st.result}` }, h("strong", {}, `${st.stage}: ${st.result}`), st.detail ? ` ${st.detail}` : "")));
    const facts = [["Outcome", `${d.outcome} ${d.response_code || ""}${d.error_code ? ` (error ${d.error_code})` : ""}`], ["Reason", d.reason], ["Request", `${d.method} ${d.request_uri} over ${d.transport}`], ["From / To", `${d.from || ""} → ${d.to || ""}`], ["Source", d.source], ["Domain", `${d.domain_name || "not recognised"} ${d.domain_sid || ""}`], ["Recognised by", `${d.recognised_by || ""} ${d.ip_record_sid || ""} ${d.mapping_sid || ""}`], ["Target", d.target], ["Call-ID", d.call_id]];
    detail.replaceChildren(h("h2", { tabindex: "-1" }, `Decision for ${d.call_id || d.source}`),
      h("dl", {}, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, cellText(v))])), h("h3", {}, "Steps"), steps);
    detail.querySelector("h2").focus();
  }

  async function traffic() {
    const r = await api("GET", "/sipmap/v1/Traffic");
    if (!r.ok) {
      chart.replaceChildren(h("p", { class: "error api-error", role: "alert" }, `Traffic: ${errorText(r)}`));
      return;
    }
    const domains = (r.data && r.data.domains) || [];
    chart.replaceChildren(...(domains.length ? domains.map(trafficChart) : [h("p", {}, "No traffic in the last hour.")]));
  }

  why.addEventListener("submit", (ev) => {
    ev.preventDefault();
    find({});
  });
  live.addEventListener("change", (ev) => {
    if (timer) { clearInterval(timer); timer = null; }
    if (ev.target.checked) { timer = setInterval(() => { load(); traffic(); }, 2000); state.timers.push(timer); }
  });
  find({});
  traffic();
  return root;
}

// Requests (bars) and refusals (red bars over them) per minute of one domain, drawn as SVG.
function trafficChart(d) {
  const minutes = d.minutes || [];
  const W = 600, H = 90, pad = 24;
  const max = Math.max(1, ...minutes.map((m) => m.requests));
  const bw = (W - pad) / Math.max(60, minutes.length);
  const total = minutes.reduce((a, m) => a + m.requests, 0);
  const refused = minutes.reduce((a, m) => a + m.refused, 0);
  const label = `${d.domain_name || d.domain_sid}: ${total} requests, ${refused} refused in the last hour`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 14}`, width: W, height: H + 14, role: "img", "aria-label": label });
  svg.append(s("line", { x1: pad, y1: H, x2: W, y2: H, class: "axis" }));
  const top = s("text", { x: 0, y: 10, class: "tick" });
  top.textContent = String(max);
  svg.append(top);
  minutes.forEach((m, i) => {
    const x = pad + i * bw;
    const rh = (m.requests / max) * (H - 4);
    const fh = (m.refused / max) * (H - 4);
    const bar = s("rect", { x, y: H - rh, width: Math.max(1, bw - 1), height: rh, class: "bar-req" });
    const t = s("title");
    t.textContent = `${m.start}: ${m.requests} requests, ${m.refused} refused`;
    bar.append(t);
    svg.append(bar, s("rect", { x, y: H - fh, width: Math.max(1, bw - 1), height: fh, class: "bar-refused" }));
  });
  return h("figure", {}, svg, h("figcaption", {}, label));
}

// ---------------------------------------------------------------- shell

function route() {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  const [where, search] = location.hash.replace(/^#\/?/, "").split("?");
  const [page, sid] = (where || "domains").split("/");
  const main = $("main");
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (page === "decisions") main.replaceChildren(decisionsView(Object.fromEntries(new URLSearchParams(search || ""))));
  else if (R[page]) {
    main.replaceChildren(listView(R[page], { open: sid }));
  } else main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, "No such page."));
  document.title = `${(PAGES.find(([p]) => p === page) || [null, "sipmap"])[1]} · sipmap console`;
}

async function fillAccounts() {
  const sel = $("account-select");
  const r = await api("GET", `/2010-04-01/Accounts.json${query({ PageSize: 50 })}`);
  const items = r.ok ? itemsOf(r.data) : [];
  sel.replaceChildren(...items.map((a) => h("option", { value: a.sid, selected: a.sid === state.account }, `${a.friendly_name} (${a.sid})`)));
  if (!items.some((a) => a.sid === state.account)) sel.prepend(h("option", { value: state.account, selected: true }, state.account));
}

function showApp() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `signed in as ${state.session.user_sid}`;
  $("nav").replaceChildren(...PAGES.map(([p, label]) => h("li", {}, h("a", { href: `#/${p}`, "data-page": p }, label))));
  fillAccounts();
  route();
}

function showSignIn(message) {
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("signin-account").focus();
}

function adopt(session) {
  state.session = session;
  state.csrf = session.csrf_token;
  state.account = session.account_sid;
}

async function start() {
  const form = $("signin-form");
  form.addEventListener("change", () => {
    const key = form.elements.mode.value === "key";
    $("signin-key-field").hidden = !key;
    $("signin-secret-label").textContent = key ? "API key secret" : "Auth token";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const id of ["signin-account-error", "signin-key-error", "signin-secret-error", "signin-error"]) $(id).textContent = "";
    const params = { AccountSid: form.elements.AccountSid.value.trim(), Secret: form.elements.Secret.value };
    if (form.elements.mode.value === "key") params.ApiKeySid = form.elements.ApiKeySid.value.trim();
    const r = await api("POST", "/console/session", params);
    if (r.ok) {
      form.elements.Secret.value = "";
      adopt(r.data);
      showApp();
      return;
    }
    const named = { AccountSid: "signin-account-error", ApiKeySid: "signin-key-error", Secret: "signin-secret-error" }[namedParameter(r.data && r.data.message)];
    if (r.status === 401) form.elements.Secret.value = "";
    $(named || "signin-error").textContent = r.status === 401 ? "Those credentials are not accepted." : errorText(r);
  });
  $("signout").addEventListener("click", async () => {
    await api("DELETE", "/console/session");
    state.session = null;
    showSignIn("Signed out.");
  });
  $("account-select").addEventListener("change", (ev) => {
    state.account = ev.target.value;
    route();
  });
  window.addEventListener("hashchange", () => {
    if (!state.session) return;
    route();
    $("main").focus();
  });
  const r = await api("GET", "/console/session");
  if (r.ok) { adopt(r.data); showApp(); } else showSignIn();
}

document.addEventListener("DOMContentLoaded", start);
