// The office console's pages (医保办控制台): hash routes, the calls to the console's
// /api (POST /api/call with the session's CSRF token), the live event stream, and every
// page's rendering. Text from the daemon only ever goes in as text (createTextNode).

// ---- small DOM helpers: every string becomes a text node, never markup -------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

// Element.append would write null as the text "null": these skip it.
function add(el, ...children) {
  return append(el, children);
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A Chinese label with its English beside it in small text.
function bi(zh, en) {
  return en ? [zh, ' ', h('span', { class: 'en' }, en)] : [zh];
}

const $ = (sel, root = document) => root.querySelector(sel);

// ---- values ------------------------------------------------------------------------

const DASH = '—';

// Daemon times are ISO 8601 with the daemon host's offset: shown as that local time.
function fmtTime(t) {
  if (!t) return DASH;
  return String(t).replace('T', ' ').replace(/(\.\d+)?([+-]\d\d:\d\d|Z)$/, '');
}

// The "more" button under a list answered a page at a time: loads the next
// page from the answer's cursor while the answer says there is more.
function moreButton(box, answer, load) {
  clear(box);
  if (!answer.more || answer.cursor === null || answer.cursor === undefined) return;
  const b = h('button', { type: 'button', 'data-action': 'more' }, '更多 ', h('span', { class: 'en' }, 'More'));
  b.addEventListener('click', () => load(answer.cursor));
  box.appendChild(b);
}

// A card number as the logs show it: the first two and the last two kept.
function maskCard(c) {
  const s = String(c || '');
  return s.length <= 4 ? s : `${s.slice(0, 2)}${'*'.repeat(s.length - 4)}${s.slice(-2)}`;
}

function fmtDur(s) {
  if (s === null || s === undefined) return DASH;
  s = Math.max(0, Math.round(Number(s)));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d}天${hh}小时${m}分`;
  if (hh) return `${hh}小时${m}分`;
  if (m) return `${m}分${sec}秒`;
  return `${sec}秒`;
}

function fmtVal(v) {
  if (v === null || v === undefined || v === '') return DASH;
  if (typeof v === 'boolean') return v ? '是 yes' : '否 no';
  if (Array.isArray(v)) return v.length ? v.map(fmtVal).join(', ') : DASH;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function offsetOf(t) {
  const m = /([+-]\d\d:\d\d|Z)$/.exec(String(t || ''));
  return m ? m[1] : null;
}

// Today's date in the daemon's zone (taken from a time it answered), else the browser's.
function today() {
  const off = offsetOf(state.status && state.status.since) || offsetOf(state.pub && state.pub.since);
  const now = new Date();
  if (off && off !== 'Z') {
    const sign = off[0] === '-' ? -1 : 1;
    const mins = sign * (Number(off.slice(1, 3)) * 60 + Number(off.slice(4, 6)));
    return new Date(now.getTime() + mins * 60000).toISOString().slice(0, 10);
  }
  if (off === 'Z') return now.toISOString().slice(0, 10);
  const p = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}

function newRequestId(prefix) {
  const rnd = new Uint8Array(6);
  crypto.getRandomValues(rnd);
  const hex = Array.from(rnd, (b) => b.toString(16).padStart(2, '0')).join('');
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${prefix}-${t}-${hex}`.slice(0, 64);
}

const LINE = {
  online: ['在线', 'online'],
  offline: ['离线', 'offline'],
  draining: ['补传中', 'draining'],
};

const ROLE = { cashier: '收费员', supervisor: '医保办主管', auditor: '审核员', admin: '管理员' };

const SETTLE_STATE = {
  settled: '已结算', offline_pending: '离线待上传', offline_accepted: '离线已受理',
  offline_rejected: '离线被拒', partly_refunded: '部分退费', refunded: '已退费', undone: '已撤销',
};

const MODE = { online: '联网', offline: '离线' };

const WORK_KIND = {
  parked_reversal: ['冲正挂起', 'parked reversal'],
  parked_upload: ['离线上传挂起', 'parked upload'],
  rejected_offline_settlement: ['离线结算被拒', 'rejected offline settlement'],
  correction_waiting: ['更正待复核', 'correction waiting'],
  reentry_waiting: ['补录待复核', 're-entry waiting'],
  reentry_after_closeout: ['日结后补录', 're-entry after close-out'],
};

function workKind(k) {
  if (WORK_KIND[k]) return WORK_KIND[k];
  if (String(k).startsWith('parked_stay_')) return ['住院项目挂起', k];
  return [k, ''];
}

const REASON = {
  LOGIN_FAILED: '用户名或密码错误', LOCKED_OUT: '账号已锁定', LIMIT_EXCEEDED: '尝试过于频繁',
  FORBIDDEN: '无权操作', UNAUTHENTICATED: '未登录或会话已结束', NOT_FOUND: '未找到',
  INVALID_STATE: '当前状态不允许此操作', INVALID_REQUEST: '请求有误', INVALID_AMOUNT: '金额有误',
  INSURER_UNREACHABLE: '医保中心无法连接', INSURER_REJECTED: '医保中心拒绝', INTERNAL: '内部错误',
  PASSWORD_CHANGE_REQUIRED: '请先修改初始密码', CSRF: '安全校验失败，请刷新页面',
  DAEMON_UNREACHABLE: '结算服务无法连接', STORAGE_FAILED: '账本写入失败', NOT_SUPPORTED: '不支持',
  TOO_LARGE: '请求过大', BAD_REQUEST: '请求有误', DUPLICATE_REQUEST_CONFLICT: '请求号冲突',
};

// ---- state ------------------------------------------------------------------------

const state = {
  session: null,   // {operator, role, window, password_change_required, csrf_token, idle_s}
  pub: null,       // GET /api/public
  status: null,    // the last `status` event
  events: null,    // EventSource
  loginMessage: '',
  page: null,      // {name, onStatus?, onNetwork?, onWork?}
};

// ---- the console's API ------------------------------------------------------------

class ApiError extends Error {
  constructor(status, err) {
    super((err && err.message) || `HTTP ${status}`);
    this.status = status;
    this.reason = (err && (err.reason || (err.data && err.data.reason))) || `HTTP_${status}`;
    this.data = Object.assign({}, (err && err.data) || {});
    // The console's own throttle answers retry_after_s beside the reason, the daemon in data.
    if (err && err.retry_after_s !== undefined && this.data.retry_after_s === undefined) this.data.retry_after_s = err.retry_after_s;
    this.code = err && err.code;
  }
}

async function readJson(res) {
  const text = await res.text();
  if (!text) return {};
  try { return JSON.parse(text); } catch { return { error: { reason: `HTTP_${res.status}`, message: text.slice(0, 300) } }; }
}

function sessionGone(message) {
  state.session = null;
  closeEvents();
  state.loginMessage = message || '会话已结束，请重新登录。 Your session has ended: log in again.';
  if (location.hash !== '#/login') location.hash = '#/login';
  else route();
}

async function post(path, body, { login = false } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.session && state.session.csrf_token) headers['X-CSRF-Token'] = state.session.csrf_token;
  const res = await fetch(path, {
    method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store',
  });
  const data = await readJson(res);
  if (res.status === 401 && !login) {
    sessionGone();
    throw new ApiError(401, data.error || { reason: 'UNAUTHENTICATED', message: '会话已结束' });
  }
  if (!res.ok) throw new ApiError(res.status, data.error);
  return data;
}

async function getJson(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  const data = await readJson(res);
  if (res.status === 401 && path !== '/api/session') {
    sessionGone();
    throw new ApiError(401, data.error);
  }
  if (!res.ok) throw new ApiError(res.status, data.error);
  return data;
}

// One daemon method through the session's connection; the daemon's refusal is thrown.
async function call(method, params = {}) {
  const data = await post('/api/call', { method, params });
  if (data.error) {
    const e = new ApiError(200, data.error);
    if (e.reason === 'UNAUTHENTICATED') sessionGone();
    else if (e.reason === 'PASSWORD_CHANGE_REQUIRED' && state.session) {
      state.session.password_change_required = true;
      location.hash = '#/password';
    }
    throw e;
  }
  return data.result;
}

function errorText(e) {
  if (!(e instanceof ApiError)) return `出错了 Error: ${e && e.message ? e.message : e}`;
  const zh = REASON[e.reason] || '操作未完成';
  let s = `${zh}（${e.reason}）：${e.message}`;
  if (e.data && e.data.field) s += `　字段 field: ${e.data.field}`;
  if (e.data && e.data.err_msg) s += `　医保中心 insurer: ${e.data.err_msg}`;
  return s;
}

// The error line of a page ([data-testid=error]): hidden while empty.
function errorBox() {
  const el = h('div', { class: 'error', 'data-testid': 'error', role: 'alert' });
  el.hidden = true;
  el.show = (e) => {
    el.textContent = typeof e === 'string' ? e : errorText(e);
    el.hidden = false;
  };
  el.clear = () => { el.textContent = ''; el.hidden = true; };
  return el;
}

function okBox() {
  const el = h('div', { class: 'ok', 'data-testid': 'message', role: 'status' });
  el.hidden = true;
  el.show = (t) => { el.textContent = t; el.hidden = false; };
  el.clear = () => { el.textContent = ''; el.hidden = true; };
  return el;
}

// Runs an action with its button disabled; the page's error box shows a refusal.
async function act(button, err, fn) {
  if (button) button.disabled = true;
  err.clear();
  try {
    return await fn();
  } catch (e) {
    err.show(e);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- pages, roles and nav ------------------------------------------------------------

const ALL = ['cashier', 'supervisor', 'auditor', 'admin'];
const READERS = ['cashier', 'supervisor', 'auditor'];
const OFFICE = ['supervisor', 'auditor'];

const PAGES = {
  now: { zh: '实时状态', en: 'Now', roles: ALL, nav: true },
  day: { zh: '当日结算', en: 'The day', roles: READERS, nav: true },
  work: { zh: '待办', en: 'Work waiting', roles: OFFICE, nav: true },
  closeouts: { zh: '日结', en: 'Close-outs', roles: ['cashier', 'supervisor', 'auditor'], nav: true },
  recon: { zh: '对账与演练', en: 'Reconciliation & drills', roles: OFFICE, nav: true },
  outages: { zh: '停机记录', en: 'Outages', roles: OFFICE, nav: true },
  operators: { zh: '操作员', en: 'Operators', roles: ['admin'], nav: true },
  audit: { zh: '审计日志', en: 'Audit', roles: ['auditor', 'admin'], nav: true },
  password: { zh: '修改密码', en: 'Password', roles: ALL, nav: true },
  settlement: { roles: READERS, parent: 'day' },
  closeout: { roles: ['cashier', 'supervisor', 'auditor'], parent: 'closeouts' },
  outage: { roles: OFFICE, parent: 'outages' },
  login: { roles: null },
};

const may = (name) => !!state.session && PAGES[name] && PAGES[name].roles && PAGES[name].roles.includes(state.session.role);
const role = () => (state.session ? state.session.role : '');

function renderChrome() {
  const nav = clear($('#nav'));
  const who = clear($('#who'));
  const hosp = $('#hospital');
  hosp.textContent = (state.pub && state.pub.hospital) || '';
  if (!state.session) {
    nav.hidden = true;
    renderLineMini();
    return;
  }
  nav.hidden = false;
  const cur = state.page ? (PAGES[state.page.name] && PAGES[state.page.name].parent) || state.page.name : '';
  for (const [name, p] of Object.entries(PAGES)) {
    if (!p.nav || !may(name)) continue;
    if (state.session.password_change_required && name !== 'password') continue;
    nav.appendChild(h('a', { href: `#/${name}`, 'data-nav': name, class: name === cur ? 'active' : '' }, p.zh, ' ',
      h('span', { class: 'en' }, p.en)));
  }
  const s = state.session;
  append(who, [
    h('span', { class: 'op' }, s.operator),
    h('span', { class: 'muted' }, ` ${ROLE[s.role] || s.role} · 窗口 ${s.window}`),
    h('button', { type: 'button', class: 'small', 'data-action': 'logout', on: { click: logout } }, '退出 ', h('span', { class: 'en' }, 'Log out')),
  ]);
  renderLineMini();
}

function renderLineMini() {
  const el = clear($('#line-mini'));
  const net = (state.status && state.status.network) || (state.pub && state.pub.network);
  if (!net) return;
  const [zh, en] = LINE[net] || [net, ''];
  el.className = `line-mini state-${net}`;
  append(el, ['医保专线 ', h('b', null, zh), ' ', h('span', { class: 'en' }, en)]);
}

async function logout() {
  try { await post('/api/logout', {}); } catch { /* the session is dropped either way */ }
  state.session = null;
  closeEvents();
  state.loginMessage = '已退出。 Logged out.';
  location.hash = '#/login';
}

// ---- the event stream --------------------------------------------------------------

const EXPIRED = {
  idle: '长时间未操作，会话已结束。 The session ended after a period without use.',
  logout: '已退出。 Logged out.',
  'operator.disable': '您的账号已被管理员停用。 Your account was disabled by an administrator.',
  'operator.set_role': '您的角色已被管理员更改，请重新登录。 Your role was changed: log in again.',
  'operator.reset_password': '您的密码已被管理员重置，请重新登录。 Your password was reset: log in again.',
};

function openEvents() {
  if (state.events || !state.session) return;
  const es = new EventSource('/api/events');
  state.events = es;
  const conn = $('#conn');
  es.addEventListener('open', () => { conn.hidden = true; conn.textContent = ''; });
  es.addEventListener('status', (ev) => {
    try { state.status = JSON.parse(ev.data); } catch { return; }
    renderLineMini();
    if (state.page && state.page.onStatus) state.page.onStatus(state.status);
  });
  es.addEventListener('network', (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch { return; }
    if (state.status) state.status.network = d.network;
    renderLineMini();
    if (state.page && state.page.onNetwork) state.page.onNetwork(d.network);
  });
  es.addEventListener('work', (ev) => {
    if (state.page && state.page.onWork) state.page.onWork(ev.data);
  });
  es.addEventListener('expired', (ev) => {
    let reason = '';
    try { reason = JSON.parse(ev.data).reason; } catch { /* keep '' */ }
    sessionGone(EXPIRED[reason] || `会话已结束（${reason}）。 The session ended (${reason}).`);
  });
  es.addEventListener('error', async () => {
    if (state.events !== es) return;
    conn.hidden = false;
    conn.textContent = '实时连接中断，正在重连… Live updates interrupted, reconnecting…';
    if (es.readyState === EventSource.CLOSED) {
      state.events = null;
      try {
        await getJson('/api/session');
        setTimeout(openEvents, 3000);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) sessionGone();
        else setTimeout(openEvents, 5000);
      }
    }
  });
}

function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

// ---- router -------------------------------------------------------------------------

function parseHash() {
  const m = /^#\/([a-z]+)(?:\/(.+))?$/.exec(location.hash || '');
  if (!m) return { name: '', arg: '' };
  return { name: m[1], arg: m[2] ? decodeURIComponent(m[2]) : '' };
}

const RENDER = {};

async function route() {
  let { name, arg } = parseHash();
  if (!state.session && name !== 'login') { location.hash = '#/login'; return; }
  if (state.session && name === 'login') { location.hash = '#/now'; return; }
  if (state.session && state.session.password_change_required && name !== 'password') {
    location.hash = '#/password'; return;
  }
  if (!PAGES[name]) { location.hash = state.session ? '#/now' : '#/login'; return; }
  if (state.session && !may(name)) { location.hash = '#/now'; return; }
  const main = clear($('#app'));
  state.page = { name };
  renderChrome();
  const root = h('section', { id: `page-${name}`, class: `page page-${name}` });
  main.appendChild(root);
  try {
    await RENDER[name](root, arg, state.page);
  } catch (e) {
    const err = errorBox();
    root.appendChild(err);
    err.show(e);
  }
}

// ---- shared pieces -------------------------------------------------------------------

function table(cols, rows, rowAttrs) {
  const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', { class: c.num ? 'num' : '' }, bi(c.zh, c.en)))));
  const tbody = h('tbody');
  for (const r of rows) {
    const tr = h('tr', rowAttrs ? rowAttrs(r) : null);
    for (const c of cols) {
      const v = c.cell ? c.cell(r) : fmtVal(r[c.key]);
      tr.appendChild(h('td', { class: c.num ? 'num' : '' }, v));
    }
    tbody.appendChild(tr);
  }
  if (!rows.length) tbody.appendChild(h('tr', null, h('td', { colspan: cols.length, class: 'muted' }, '无 None')));
  return h('table', { class: 'grid' }, thead, tbody);
}

// Key/value pairs of an object, values as text (nested objects as JSON text).
function kv(pairs) {
  const dl = h('dl', { class: 'kv' });
  for (const [zh, en, v] of pairs) {
    dl.appendChild(h('dt', null, bi(zh, en)));
    dl.appendChild(h('dd', null, v instanceof Node ? v : fmtVal(v)));
  }
  return dl;
}

// Rows of objects whose fields are not all known: a column per key seen.
function genericTable(rows) {
  const keys = [];
  for (const r of rows || []) for (const k of Object.keys(r || {})) if (!keys.includes(k)) keys.push(k);
  return table(keys.map((k) => ({ zh: k, key: k })), rows || []);
}

function heading(zh, en) {
  return h('h1', null, zh, ' ', h('span', { class: 'en' }, en));
}

function section(zh, en, ...children) {
  return h('section', { class: 'card' }, h('h2', null, bi(zh, en)), ...children);
}

function field(zh, en, input) {
  return h('label', { class: 'field' }, h('span', { class: 'lbl' }, bi(zh, en)), input);
}

function link(href, text, attrs) {
  return h('a', Object.assign({ href }, attrs || {}), text);
}

function sheetFrame(src, title) {
  return h('iframe', { class: 'sheet', src, sandbox: 'allow-modals', title, 'data-testid': 'sheet', referrerpolicy: 'no-referrer' });
}

// The sheet's print controls: print it from this page (only the sheet is printed), or open
// it alone in a new tab (for a sheet longer than one page, printed there with Ctrl+P).
function sheetActions(url, paper, otherPaper) {
  const print = h('button', { type: 'button', class: 'primary', 'data-action': 'print' }, '打印 ', h('span', { class: 'en' }, 'Print'));
  print.addEventListener('click', () => {
    document.body.classList.add('print-sheet');
    window.print();
    document.body.classList.remove('print-sheet');
  });
  const sep = url.includes('?') ? '&' : '?';
  return h('div', { class: 'actions' }, print,
    link(url, `在新标签页打开（${paper}，Ctrl+P 打印）`, { target: '_blank', rel: 'noopener', class: 'button', 'data-action': 'open-sheet' }),
    link(`${url}${sep}paper=${otherPaper}`, otherPaper, { target: '_blank', rel: 'noopener', class: 'button' }));
}

function money(v) {
  return v === null || v === undefined ? DASH : String(v);
}

const PART_COLS = [
  { zh: '总额', en: 'total', key: 'total', num: true },
  { zh: '统筹', en: 'fund', key: 'fund', num: true },
  { zh: '个账', en: 'account', key: 'account', num: true },
  { zh: '现金', en: 'cash', key: 'cash', num: true },
];

// ---- login -------------------------------------------------------------------------

RENDER.login = async (root) => {
  const err = errorBox();
  const info = state.loginMessage ? h('div', { class: 'notice', 'data-testid': 'login-message' }, state.loginMessage) : null;
  state.loginMessage = '';
  const op = h('input', { name: 'operator', autocomplete: 'username', required: true, maxlength: 64 });
  const pw = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const win = h('select', { name: 'window', required: true });
  const btn = h('button', { type: 'submit', class: 'primary', 'data-action': 'login' }, '登录 ', h('span', { class: 'en' }, 'Log in'));
  const form = h('form', { class: 'login-form', autocomplete: 'on' },
    heading('登录', 'Log in'), info,
    field('操作员', 'Operator', op), field('密码', 'Password', pw), field('窗口', 'Window', win), btn, err);
  root.appendChild(h('div', { class: 'login-wrap' }, form));
  try {
    state.pub = await getJson('/api/public');
    for (const w of state.pub.windows || []) win.appendChild(h('option', { value: w }, w));
    const last = localStorage.getItem('settle-console-window');
    if (last && (state.pub.windows || []).includes(last)) win.value = last;
    renderChrome();
  } catch (e) {
    err.show(`无法读取窗口列表 Cannot read the windows: ${errorText(e)}`);
  }
  op.focus();
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.clear();
    btn.disabled = true;
    try {
      const s = await post('/api/login', { operator: op.value, password: pw.value, window: win.value }, { login: true });
      pw.value = '';
      state.session = s;
      localStorage.setItem('settle-console-window', win.value);
      openEvents();
      location.hash = s.password_change_required ? '#/password' : '#/now';
    } catch (e) {
      pw.value = '';
      err.show(loginErrorText(e));
    } finally {
      btn.disabled = false;
    }
  });
};

function loginErrorText(e) {
  if (!(e instanceof ApiError)) return errorText(e);
  const d = e.data || {};
  switch (e.reason) {
    case 'LOGIN_FAILED':
      return d.attempts_left !== undefined
        ? `用户名或密码错误，还可尝试 ${d.attempts_left} 次，之后账号将被锁定。 Wrong operator or password: ${d.attempts_left} attempt(s) left before the lock.`
        : '用户名或密码错误。 Wrong operator or password.';
    case 'LOCKED_OUT':
      return d.until
        ? `账号已锁定，至 ${fmtTime(d.until)} 自动解锁，或请管理员解锁。 Locked until ${fmtTime(d.until)}, or ask an administrator.`
        : '账号已锁定，请联系管理员解锁。 The operator is locked: an administrator unlocks it.';
    case 'LIMIT_EXCEEDED': {
      const s = d.retry_after_s !== undefined ? d.retry_after_s : (d.retry_after_ms ? Math.ceil(d.retry_after_ms / 1000) : null);
      return s !== null
        ? `登录失败次数过多，请 ${s} 秒后再试。 Too many failed logins: try again in ${s} s.`
        : '登录失败次数过多，请稍后再试。 Too many failed logins: try again later.';
    }
    case 'FORBIDDEN':
      return `账号已停用或不允许登录。 This operator may not log in. (${e.message})`;
    case 'CSRF':
      return `安全校验失败，请刷新页面后再试。 Security check failed: reload the page. (${e.message})`;
    default:
      return errorText(e);
  }
}

// ---- password ------------------------------------------------------------------------

RENDER.password = async (root) => {
  const err = errorBox();
  const ok = okBox();
  const cur = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const nw = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true });
  const again = h('input', { type: 'password', name: 'new_password_again', autocomplete: 'new-password', required: true });
  const btn = h('button', { type: 'submit', class: 'primary', 'data-action': 'change-password' }, '修改密码 ', h('span', { class: 'en' }, 'Change'));
  const must = state.session.password_change_required
    ? h('div', { class: 'notice' }, '您使用的是初始密码，请先设置自己的密码。 You logged in with an initial password: set your own first.')
    : null;
  const form = h('form', { class: 'narrow' }, heading('修改密码', 'Change password'), must,
    h('p', { class: 'muted' }, '密码 10–128 个字符，须含大写字母、小写字母、数字和特殊字符，不得包含操作员名。 10–128 characters with an upper-case and a lower-case letter, a digit and a special character; not containing the operator name.'),
    field('当前密码', 'Current password', cur), field('新密码', 'New password', nw), field('再次输入新密码', 'New password again', again),
    btn, err, ok);
  root.appendChild(form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (nw.value !== again.value) { err.show('两次输入的新密码不一致。 The two new passwords differ.'); return; }
    await act(btn, err, async () => {
      const s = await call('session.change_password', { password: cur.value, new_password: nw.value });
      cur.value = nw.value = again.value = '';
      Object.assign(state.session, s, { password_change_required: false });
      ok.show('密码已修改。 The password is changed.');
      setTimeout(() => { location.hash = '#/now'; }, 600);
    });
    cur.value = '';
  });
};

// ---- now: the line, the windows, the queues, the plan ------------------------------------

// What the office does in each state of the line (the hospital's emergency plan).
const PLAN = {
  offline: {
    title: ['医保专线中断：应急处置', 'The insurer line is down: what to do now'],
    steps: [
      ['立即通知全院各科室和软件厂商（HIS 厂商及医保接口服务商）：医保专线中断，暂时无法使用个人账户持卡实时结算。',
        'Tell every department and the software vendor at once: the line is down and the personal account cannot be used at the windows.'],
      ['收费、导医、药房及医保办的相关人员到岗；相关科室主任到场协调。',
        'Cashiers, guides, pharmacy and office staff to their posts; heads of the departments concerned come to coordinate.'],
      ['收费窗口继续按本地红名单离线结算：个人账户不能使用，统筹部分为估算，其余由患者现金（或银行卡、扫码）支付；离线期间不能退费。',
        'Windows keep settling offline against the red list: no personal account, the fund part is an estimate, the rest is paid by the patient; no refunds while offline.'],
      ['导医在挂号、收费大厅疏导，向患者解释离线结算和现金支付的原因；有疑问的患者请到导医台或医保咨询台详细解答，不要在收费窗口滞留。',
        'Guides in the registration and payment halls explain offline settlement to patients and send those with questions to the consulting desk, so that nobody waits at the windows.'],
      ['需要退费的患者：请其在专线恢复后持医保卡和结算单到收费窗口办理；想用个人账户的患者可在恢复后办理退费重结。',
        'Patients who need a refund come back with their card and sheet once the line is back; those who want the personal account re-settle then.'],
      ['在「停机记录」中登记已通知的部门和人员（时间、方式、接听人）。',
        'Record on the outage page whom you told, when and how.'],
    ],
  },
  draining: {
    title: ['专线已恢复，正在补传离线业务', 'The line is back: stored work is being sent'],
    steps: [
      ['联系软件厂商和医保中心，确认专线已恢复、接口正常。', 'Contact the vendor and the insurance centre: confirm the line and the interface work again.'],
      ['关注待补传的离线结算和冲正数量，直至归零；被拒或挂起的项目到「待办」处理。', 'Watch the uploads and reversals waiting until they reach zero; deal with refused or parked items on the work page.'],
      ['导医继续向患者做好解释：离线期间的退费和退费重结现在可以到收费窗口办理。', 'Guides keep explaining: refunds and re-settlement of the outage period can now be made at the windows.'],
      ['补传完成后核对当日对账，并在「停机记录」登记恢复情况和通知情况。', 'Once through, reconcile the day and note the recovery and who was told on the outage page.'],
    ],
  },
  after: {
    title: ['今日曾发生专线中断：恢复后的检查', 'The line was down today: checks after it'],
    steps: [
      ['确认已通知软件厂商和医保中心专线恢复。', 'Make sure the vendor and the insurance centre were told the line is back.'],
      ['核对离线结算均已上传并被受理，冲正均已完成；处理「待办」中的被拒和挂起项目。', 'Check every offline settlement was uploaded and accepted and every reversal done; deal with the work page.'],
      ['运行当日对账，核对差异。', 'Run the day’s reconciliation and check the differences.'],
      ['在「停机记录」补全通知记录。', 'Complete the notes of whom you told on the outage page.'],
    ],
  },
};

const REDLIST_OLD_S = 24 * 3600;

RENDER.now = async (root, _arg, page) => {
  const err = errorBox();
  const lineBox = h('div', { class: 'line-state', 'data-testid': 'line-state' });
  const planBox = h('div', { class: 'plan', 'data-testid': 'plan' });
  const noticeBox = h('div', { class: 'notices', 'data-testid': 'notices' });
  const windowsBody = h('tbody');
  const countsBox = h('div', { class: 'counts' });
  const infoBox = h('div', { class: 'info' });
  const historyBox = h('div', { 'data-testid': 'line-history' });
  const actions = h('div', { class: 'actions' });
  const ok = okBox();
  const office = OFFICE.includes(role());
  let todayOutages = null;
  // Who is logged in at each window (session.list: the office and the
  // administrator). Read when the page opens and on the button, not on a
  // timer: a call counts as the person's activity, and the page must still
  // let an idle session end.
  const seesSessions = office || role() === 'admin';
  let sessionsByWindow = null;
  const sessionsNote = h('p', { class: 'muted small', 'data-testid': 'sessions-note' });
  async function loadSessions() {
    if (!seesSessions) return;
    try {
      const r = await call('session.list', {});
      sessionsByWindow = {};
      for (const s of r.sessions || []) (sessionsByWindow[s.window] ||= []).push(s);
      clear(sessionsNote).appendChild(document.createTextNode(`操作员读取于 ${new Date().toLocaleTimeString('zh-CN', { hour12: false })}　Operators as read then `));
      const again = h('button', { type: 'button', 'data-action': 'sessions-refresh' }, '刷新 ', h('span', { class: 'en' }, 'Refresh'));
      again.addEventListener('click', () => loadSessions());
      sessionsNote.appendChild(again);
      if (state.status) renderStatus(state.status);
    } catch (e) {
      clear(sessionsNote).appendChild(h('span', { class: 'bad' }, errorText(e)));
    }
  }
  if (!seesSessions) sessionsNote.textContent = '各窗口的操作员仅医保办可见。 Who works at each window is shown to the office only.';

  root.appendChild(heading('实时状态', 'Now'));
  root.appendChild(err);
  root.appendChild(h('div', { class: 'cols' },
    h('div', { class: 'col' },
      section('医保专线', 'Insurer line', lineBox, historyBox),
      section('队列', 'Queues', countsBox, actions, ok),
      section('红名单与时钟', 'Red list & clock', infoBox)),
    h('div', { class: 'col' },
      section('窗口', 'Windows',
        h('table', { class: 'grid' },
          h('thead', null, h('tr', null, h('th', null, bi('窗口', 'window')), h('th', null, bi('读卡器', 'reader')),
            h('th', null, bi('读卡器在位', 'reader present')), h('th', null, bi('卡在位', 'card present')),
            h('th', null, bi('操作员', 'operator')))),
          windowsBody),
        sessionsNote),
      section('应急处置', 'What to do now', planBox),
      section('患者告知', 'Patient notices', noticeBox))));

  if (role() === 'supervisor') {
    const flush = h('button', { type: 'button', 'data-action': 'flush' }, '立即补传 ', h('span', { class: 'en' }, 'Send stored work now'));
    const sync = h('button', { type: 'button', 'data-action': 'redlist-sync' }, '同步红名单 ', h('span', { class: 'en' }, 'Sync red list'));
    flush.addEventListener('click', () => act(flush, err, async () => {
      ok.clear();
      const r = await call('uploads.flush', {});
      ok.show(`补传结束：待冲正 ${r.pending_reversals}，待上传 ${r.pending_uploads}，结果未明 ${r.in_doubt}，专线 ${(LINE[r.network] || [r.network])[0]}。`);
    }));
    sync.addEventListener('click', () => act(sync, err, async () => {
      ok.clear();
      const r = await call('redlist.sync', {});
      ok.show(`红名单已同步：版本 ${r.version}，共 ${r.entries} 条，本次 ${r.applied} 条，用时 ${r.took_ms} ms。`);
    }));
    append(actions, [flush, sync]);
  }

  function renderLine(st) {
    const net = st.network;
    const [zh, en] = LINE[net] || [net, ''];
    clear(lineBox);
    lineBox.setAttribute('data-state', net);
    lineBox.className = `line-state state-${net}`;
    append(lineBox, [h('div', { class: 'big' }, zh, ' ', h('span', { class: 'en' }, en)),
      h('div', null, '自 ', fmtTime(st.since), ' 起', h('span', { class: 'en' }, ` since ${fmtTime(st.since)}`))]);
    renderPlan(net);
  }

  function renderPlan(net) {
    clear(planBox);
    let key = net === 'offline' ? 'offline' : net === 'draining' ? 'draining' : null;
    if (!key && todayOutages && todayOutages.some((o) => o.kind === 'line')) key = 'after';
    if (!key) {
      planBox.appendChild(h('p', { class: 'muted' }, '专线正常，无需应急处置。 The line is up: nothing to do.'));
      planBox.setAttribute('data-plan', 'none');
      return;
    }
    const p = PLAN[key];
    planBox.setAttribute('data-plan', key);
    planBox.appendChild(h('h3', null, bi(p.title[0], p.title[1])));
    planBox.appendChild(h('ol', null, p.steps.map(([zh, en]) => h('li', null, zh, h('div', { class: 'en' }, en)))));
  }

  function operatorsAt(w) {
    if (!sessionsByWindow) return '—';
    const here = sessionsByWindow[w] || [];
    if (!here.length) return '无人登录 nobody';
    return here.map((s) => `${s.operator}（${ROLE[s.role] || s.role}）`).join('、');
  }

  function renderStatus(st) {
    renderLine(st);
    clear(windowsBody);
    for (const r of st.readers || []) {
      windowsBody.appendChild(h('tr', { 'data-testid': 'window-row', 'data-window': r.window },
        h('td', null, r.window), h('td', null, r.reader),
        h('td', { class: r.reader_present ? 'good' : 'bad' }, r.reader_present ? '在位 yes' : '不在位 no'),
        h('td', null, r.card_present ? '有卡 yes' : '无卡 no'),
        h('td', { 'data-testid': 'window-operator' }, operatorsAt(r.window))));
    }
    if (!(st.readers || []).length) windowsBody.appendChild(h('tr', null, h('td', { colspan: 5, class: 'muted' }, '未配置窗口 No windows')));
    clear(countsBox);
    const counts = [
      ['pending_reversals', '待冲正', 'pending reversals'], ['pending_uploads', '待上传', 'pending uploads'],
      ['parked_reversals', '冲正挂起', 'parked reversals'], ['parked_uploads', '上传挂起', 'parked uploads'],
      ['in_doubt', '结果未明', 'in doubt'],
    ];
    for (const [f, zh, en] of counts) {
      const v = st[f] ?? 0;
      const warn = v > 0 && (f.startsWith('parked') || f === 'in_doubt');
      countsBox.appendChild(h('div', { class: `count${warn ? ' warn' : ''}` },
        h('div', { class: 'n', 'data-testid': `count-${f}` }, String(v)), h('div', null, bi(zh, en))));
    }
    clear(infoBox);
    const age = st.redlist_age_s;
    const old = age === null || age === undefined || age > REDLIST_OLD_S;
    const skewBad = st.clock_skew === 'alert' || st.clock_skew === 'refused';
    infoBox.appendChild(kv([
      ['红名单版本', 'red list version', st.redlist_version === 0 ? '0（从未同步 never synced）' : st.redlist_version],
      ['红名单同步于', 'synced', h('span', { class: old ? 'bad' : '', 'data-testid': 'redlist-age' },
        age === null || age === undefined ? '从未同步 never' : `${fmtDur(age)}前 ago${old ? '　⚠ 已超过一天，请同步 older than a day' : ''}`)],
      ['时钟偏差', 'clock skew', h('span', { class: skewBad ? 'bad' : '', 'data-testid': 'clock-skew' },
        `${st.clock_skew}${st.clock_skew_s === null || st.clock_skew_s === undefined ? '' : `（${st.clock_skew_s} 秒 s）`}`)],
      ['账本加密', 'storage encrypted', st.storage_encrypted],
      ['接口版本', 'API version', st.api_version],
    ]));
  }

  async function loadNotice() {
    try {
      const r = await call('notice.get', {});
      clear(noticeBox);
      for (const n of r.notices || []) {
        noticeBox.appendChild(h('article', { class: 'notice-item', 'data-notice': n.id },
          h('h3', null, n.title, n.title_en ? h('span', { class: 'en' }, ` ${n.title_en}`) : null),
          String(n.body || '').split(/\n\s*\n/).map((p) => h('p', null, p)),
          n.body_en ? String(n.body_en).split(/\n\s*\n/).map((p) => h('p', { class: 'en' }, p)) : null));
      }
      if (!(r.notices || []).length) noticeBox.appendChild(h('p', { class: 'muted' }, '当前无告知。 No notice applies now.'));
    } catch (e) {
      clear(noticeBox).appendChild(h('p', { class: 'bad' }, errorText(e)));
    }
  }

  async function loadHistory() {
    if (!office) {
      clear(historyBox).appendChild(h('p', { class: 'muted small' }, '当日断网记录仅医保办主管和审核员可见。 The day’s outages are shown to supervisors and auditors.'));
      return;
    }
    try {
      const d = today();
      const r = await call('outage.list', { from: d, to: d, kind: 'line', limit: 100 });
      todayOutages = r.outages || [];
      clear(historyBox).appendChild(h('h3', null, bi('今日专线记录', 'Today’s line history')));
      historyBox.appendChild(table([
        { zh: '中断于', en: 'offline at', cell: (o) => link(`#/outage/${o.outage_id}`, fmtTime(o.started_at)) },
        { zh: '恢复于', en: 'back at', cell: (o) => (o.open ? h('b', { class: 'bad' }, '仍中断 still down') : fmtTime(o.ended_at)) },
        { zh: '时长', en: 'duration', cell: (o) => fmtDur(o.duration_s) },
        { zh: '原因', en: 'cause', key: 'cause' },
      ], todayOutages));
      if (state.status) renderPlan(state.status.network);
    } catch (e) {
      clear(historyBox).appendChild(h('p', { class: 'bad' }, errorText(e)));
    }
  }

  page.onStatus = renderStatus;
  page.onNetwork = () => { loadNotice(); loadHistory(); };
  if (state.status) renderStatus(state.status);
  else {
    lineBox.setAttribute('data-state', (state.pub && state.pub.network) || '');
    lineBox.textContent = '等待状态… Waiting for the status…';
    openEvents();
  }
  await Promise.all([loadNotice(), loadHistory(), loadSessions()]);
};

// ---- the day: settlements --------------------------------------------------------------

RENDER.day = async (root) => {
  const err = errorBox();
  const date = h('input', { type: 'date', name: 'date', value: today() });
  const win = h('select', { name: 'window' }, h('option', { value: '' }, '全部 all'));
  const windows = (state.status && state.status.readers ? state.status.readers.map((r) => r.window) : null) || (state.pub && state.pub.windows) || [];
  for (const w of windows) win.appendChild(h('option', { value: w }, w));
  if (role() === 'cashier') { win.value = state.session.window; win.disabled = true; }
  const op = h('input', { name: 'operator', size: 8 });
  const st = h('select', { name: 'state' }, h('option', { value: '' }, '全部 all'),
    Object.entries(SETTLE_STATE).map(([k, v]) => h('option', { value: k }, `${v} ${k}`)));
  const card = h('input', { name: 'card', size: 12, placeholder: '完整卡号 whole card no.' });
  const receipt = h('input', { name: 'receipt', size: 16, placeholder: '完整收据号 whole receipt no.' });
  const go = h('button', { type: 'submit', class: 'primary', 'data-action': 'search' }, '查询 ', h('span', { class: 'en' }, 'Search'));
  const setl = h('input', { name: 'setl_id', size: 8 });
  const open = h('button', { type: 'button', 'data-action': 'open-settlement' }, '打开 ', h('span', { class: 'en' }, 'Open'));
  const out = h('div');
  const pager = h('div', { class: 'pager' });
  const cursors = [null];
  let pageNo = 0;

  const form = h('form', { class: 'filters' },
    field('日期', 'date', date), field('窗口', 'window', win), field('操作员', 'operator', op), field('状态', 'state', st),
    field('卡号', 'card', card), field('收据号', 'receipt', receipt), go);
  add(root, heading('当日结算', 'The day’s settlements'), form,
    h('div', { class: 'filters' }, field('结算号', 'setl_id', setl), open),
    h('p', { class: 'muted small' }, '卡号、收据号须完整填写；列表中卡号部分隐藏（审核员除外）。 Card and receipt numbers are searched whole; the list shows card numbers partly masked (auditors excepted).'),
    err, out, pager);

  open.addEventListener('click', () => { if (setl.value.trim()) location.hash = `#/settlement/${encodeURIComponent(setl.value.trim())}`; });

  async function load() {
    await act(go, err, async () => {
      const p = { from: date.value, to: date.value, limit: 50 };
      if (win.value) p.window = win.value;
      if (op.value.trim()) p.operator = op.value.trim();
      if (st.value) p.state = st.value;
      if (card.value.trim()) p.card_no = card.value.trim();
      if (receipt.value.trim()) p.receipt_no = receipt.value.trim();
      if (cursors[pageNo]) p.cursor = cursors[pageNo];
      const r = await call('settle.list', p);
      cursors[pageNo + 1] = r.cursor;
      const rows = r.settlements || [];
      clear(out).appendChild(table([
        { zh: '结算号', en: 'setl_id', cell: (s) => link(`#/settlement/${encodeURIComponent(s.setl_id)}`, s.setl_id) },
        { zh: '时间', en: 'time', cell: (s) => fmtTime(s.time) },
        { zh: '窗口', en: 'window', key: 'window' },
        { zh: '操作员', en: 'operator', key: 'operator' },
        { zh: '卡号', en: 'card', cell: (s) => (role() === 'auditor' ? s.card_no : maskCard(s.card_no)) },
        { zh: '方式', en: 'mode', cell: (s) => `${MODE[s.mode] || s.mode}` },
        { zh: '状态', en: 'state', cell: (s) => SETTLE_STATE[s.state] || s.state },
        ...PART_COLS,
        { zh: '收据号', en: 'receipt', key: 'receipt_no' },
        { zh: '说明', en: 'reasons', cell: (s) => fmtVal(s.reasons) },
      ], rows, (s) => ({ 'data-testid': 'settlement-row', 'data-setl-id': s.setl_id, class: s.mode === 'offline' ? 'offline' : '' })));
      clear(pager);
      const prev = h('button', { type: 'button', 'data-action': 'prev', disabled: pageNo === 0 }, '上一页 ', h('span', { class: 'en' }, 'Previous'));
      const next = h('button', { type: 'button', 'data-action': 'next', disabled: !r.cursor }, '下一页 ', h('span', { class: 'en' }, 'Next'));
      prev.addEventListener('click', () => { pageNo -= 1; load(); });
      next.addEventListener('click', () => { pageNo += 1; load(); });
      append(pager, [prev, h('span', null, ` 第 ${pageNo + 1} 页 page `), next]);
    });
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); cursors.length = 1; pageNo = 0; load(); });
  await load();
};

// ---- one settlement --------------------------------------------------------------------

RENDER.settlement = async (root, id) => {
  const err = errorBox();
  add(root, heading(`结算 ${id}`, 'Settlement'), err);
  const s = await call('settle.get', { setl_id: id }).catch((e) => { err.show(e); return null; });
  if (!s) return;
  const sheetUrl = `/api/sheet/settlement/${encodeURIComponent(id)}`;
  root.appendChild(h('div', { class: 'cols' },
    h('div', { class: 'col' },
      section('结算', 'Settlement', kv([
        ['结算号', 'setl_id', s.setl_id], ['时间', 'time', fmtTime(s.time)], ['清算日期', 'clearing date', s.clearing_date],
        ['窗口', 'window', s.window], ['操作员', 'operator', s.operator], ['卡号', 'card', s.card_no], ['人员编号', 'person', s.psn_no],
        ['险种', 'insutype', s.insutype], ['医疗类别', 'med_type', s.med_type], ['方式', 'mode', `${MODE[s.mode] || ''} ${s.mode}`],
        ['状态', 'state', `${SETTLE_STATE[s.state] || ''} ${s.state}`], ['收据号', 'receipt', s.receipt_no],
        ['总额', 'total', s.total], ['统筹', 'fund', s.fund], ['个账', 'account', s.account], ['现金', 'cash', s.cash],
        ['全自费', 'class C', s.fulamt_ownpay], ['先行自付', 'class B self-paid', s.preselfpay], ['符合范围', 'in catalogue', s.inscp],
        ['起付线部分', 'deductible', s.deductible_part], ['说明', 'reasons', s.reasons], ['离线原因', 'offline reason', s.offline_reason],
        ['医保中心结算号', 'insurer setl_id', s.insurer && s.insurer.setl_id], ['就诊号', 'mdtrt_id', s.insurer && s.insurer.mdtrt_id],
        ['报文号', 'msgid', s.insurer && s.insurer.msgid],
        ['重结自', 're-settles', s.resettles_setl_id ? link(`#/settlement/${encodeURIComponent(s.resettles_setl_id)}`, s.resettles_setl_id) : null],
      ])),
      section('明细', 'Lines', table([
        { zh: '编码', en: 'code', key: 'code' }, { zh: '名称', en: 'name', key: 'name' }, { zh: '类别', en: 'class', key: 'class' },
        { zh: '自付比例', en: 'self-pay ratio', key: 'selfpay_ratio' }, { zh: '金额', en: 'amount', key: 'amount', num: true },
      ], s.lines || [])),
      section('退费', 'Refunds', table([
        { zh: '退费号', en: 'refund_id', key: 'refund_id' }, { zh: '退费额', en: 'refund total', key: 'refund_total', num: true },
        { zh: '统筹', en: 'fund', key: 'fund', num: true }, { zh: '个账', en: 'account', key: 'account', num: true },
        { zh: '现金', en: 'cash', key: 'cash', num: true },
        { zh: '退费单', en: 'sheet', cell: (r) => link(`${sheetUrl}?refund_id=${encodeURIComponent(r.refund_id)}`, '打开 open', { target: '_blank', rel: 'noopener' }) },
      ], s.refunds || [])),
      section('上传与冲正', 'Uploads & reversals', table([
        { zh: '类别', en: 'kind', key: 'kind' }, { zh: '状态', en: 'state', key: 'state' },
        { zh: '尝试次数', en: 'attempts', key: 'attempts', num: true }, { zh: '最后错误', en: 'last error', key: 'last_error' },
      ], s.uploads || [])),
      section('调整与更正', 'Adjustments & corrections', table([
        { zh: '时间', en: 'time', cell: (a) => fmtTime(a.time) },
        { zh: '类别', en: 'kind', cell: (a) => (a.kind === 'correction' ? '更正 correction' : a.kind === 'offline_upload' ? '上传后医保中心数 offline upload' : fmtVal(a.kind)) },
        { zh: '原 统筹/个账/现金', en: 'before fund/account/cash', cell: (a) => `${money(a.local_fund)} / ${money(a.local_account)} / ${money(a.local_cash)}` },
        { zh: '现 统筹/个账/现金', en: 'after fund/account/cash', cell: (a) => `${money(a.insurer_fund)} / ${money(a.insurer_account)} / ${money(a.insurer_cash)}` },
        { zh: '说明', en: 'note', key: 'note' },
      ], s.adjustments || [])),
      section('历史', 'History', table([
        { zh: '时间', en: 'time', cell: (x) => fmtTime(x.time) }, { zh: '从', en: 'from', key: 'from' },
        { zh: '到', en: 'to', key: 'to' }, { zh: '说明', en: 'detail', key: 'detail' },
      ], s.history || []))),
    h('div', { class: 'col sheet-col' },
      section('结算单', 'Settlement sheet',
        sheetActions(sheetUrl, 'A5', 'A4'),
        sheetFrame(sheetUrl, `结算单 ${id}`)))));
};

// ---- work waiting ----------------------------------------------------------------------

RENDER.work = async (root, _arg, page) => {
  const err = errorBox();
  const ok = okBox();
  const listBox = h('div');
  const parkedBox = h('div');
  const isSup = role() === 'supervisor';
  add(root, heading('待办', 'Work waiting'), err, ok,
    section('医保办待办事项', 'Work list', listBox),
    isSup ? section('挂起项目', 'Parked items (outbox.parked)', parkedBox) : null);

  function noteInput(ph) {
    return h('input', { class: 'note', 'data-testid': 'note', placeholder: ph, maxlength: 500, size: 28 });
  }

  function doneMsg(text) { ok.show(text); load(); }

  function parkedActions(item, queue) {
    if (!isSup || item.item_id === undefined) return null;
    const note = noteInput('处理说明（标记已处理时必填） note');
    const retry = h('button', { type: 'button', 'data-action': 'retry' }, '重新发送 ', h('span', { class: 'en' }, 'Retry'));
    const resolve = h('button', { type: 'button', 'data-action': 'resolve' }, '标记已处理 ', h('span', { class: 'en' }, 'Resolve'));
    retry.addEventListener('click', () => act(retry, err, async () => {
      ok.clear();
      await call('outbox.retry', { item_id: Number(item.item_id), queue });
      doneMsg(`项目 ${item.item_id} 已放回队列，稍后发送。 Item put back in its queue.`);
    }));
    resolve.addEventListener('click', () => {
      if (!note.value.trim()) { err.show('请填写处理说明（如何与医保中心另行处理）。 Write how it was settled another way.'); return; }
      act(resolve, err, async () => {
        ok.clear();
        const r = await call('outbox.resolve', { item_id: Number(item.item_id), queue, note: note.value.trim() });
        doneMsg(`已记录更正 ${r.correction && r.correction.correction_id}，须由另一人复核后生效。 A correction is recorded; a second person approves it.`);
      });
    });
    return h('div', { class: 'row-actions' }, note, retry, resolve);
  }

  function decideActions(kind, id) {
    const note = noteInput(kind === 'reentry' ? '意见（拒绝时必填） note' : '意见 note');
    const approve = h('button', { type: 'button', 'data-action': 'approve' }, '同意 ', h('span', { class: 'en' }, 'Approve'));
    const refuse = h('button', { type: 'button', 'data-action': 'refuse' }, '拒绝 ', h('span', { class: 'en' }, 'Refuse'));
    const method = kind === 'reentry' ? 'reentry' : 'correction';
    const idKey = kind === 'reentry' ? 'batch_id' : 'correction_id';
    const decide = (btn, verb) => act(btn, err, async () => {
      ok.clear();
      if (verb === 'refuse' && kind === 'reentry' && !note.value.trim()) throw new Error('拒绝补录须填写意见。 A refusal needs a note.');
      const p = { [idKey]: Number(id) };
      if (note.value.trim()) p.note = note.value.trim();
      await call(`${method}.${verb}`, p);
      doneMsg(`${kind === 'reentry' ? '补录批次' : '更正'} ${id} ${verb === 'approve' ? '已同意 approved' : '已拒绝 refused'}。`);
    });
    approve.addEventListener('click', () => decide(approve, 'approve'));
    refuse.addEventListener('click', () => decide(refuse, 'refuse'));
    if (kind !== 'reentry') return h('div', { class: 'row-actions' }, note, approve, refuse);
    // The batch's rows, to check against the paper ledger before deciding.
    const rowsBox = h('div');
    const view = h('button', { type: 'button', 'data-action': 'view' }, '查看 ', h('span', { class: 'en' }, 'Rows'));
    view.addEventListener('click', () => act(view, err, async () => {
      const b = await call('reentry.get', { batch_id: Number(id) });
      clear(rowsBox).appendChild(table([
        { zh: '行', en: 'row', key: 'row' }, { zh: '时间', en: 'at', cell: (x) => fmtTime(x.at) },
        { zh: '窗口', en: 'window', key: 'window' }, { zh: '操作员', en: 'operator', key: 'operator' },
        { zh: '卡号', en: 'card', key: 'card_no' }, { zh: '姓名', en: 'name', key: 'psn_name' },
        { zh: '总额', en: 'total', key: 'total', num: true }, { zh: '现金', en: 'cash', key: 'cash', num: true },
        { zh: '申报统筹', en: 'fund claimed', key: 'fund_claimed', num: true },
      ], b.items || []));
    }));
    return h('div', null, h('div', { class: 'row-actions' }, note, view, approve, refuse), rowsBox);
  }

  function undoAction(item) {
    const note = noteInput('原因（如已现金收取） reason');
    const btn = h('button', { type: 'button', 'data-action': 'record-undo' }, '登记撤销更正 ', h('span', { class: 'en' }, 'Record undo'));
    btn.addEventListener('click', () => {
      if (!note.value.trim()) { err.show('请填写原因。 Write the reason.'); return; }
      act(btn, err, async () => {
        ok.clear();
        const r = await call('correction.record', { target: 'settlement', setl_id: String(item.setl_id), action: 'undo', reason: note.value.trim() });
        doneMsg(`已登记更正 ${r.correction_id}，须由另一人复核。 Correction recorded; a second person approves it.`);
      });
    });
    return h('div', { class: 'row-actions' }, note, btn);
  }

  function ids(it) {
    const parts = [];
    if (it.setl_id) parts.push(h('span', null, '结算 ', link(`#/settlement/${encodeURIComponent(it.setl_id)}`, String(it.setl_id)), ' '));
    for (const [k, zh] of [['item_id', '项目'], ['queue', '队列'], ['msgid', '报文'], ['adm_id', '住院'], ['behind', '等待项目'],
      ['batch_id', '批次'], ['batch_ref', '批号'], ['row', '行'], ['entered_by', '录入人'], ['rows', '行数'], ['at', '纸质时间'],
      ['operator', '操作员'], ['window', '窗口'], ['closeout_id', '日结号'], ['psn_no_masked', '人员'], ['total', '总额'], ['cash', '现金'],
      ['correction_id', '更正'], ['target', '对象'], ['action', '动作'], ['refusals', '被拒次数']]) {
      if (it.kind === 'correction_waiting' && (k === 'cash' || k === 'total')) continue;
      if (it[k] !== undefined && it[k] !== null) parts.push(h('span', { class: 'id' }, `${zh} ${k}: ${it[k]} `));
    }
    if (it.kind === 'correction_waiting' && it.action === 'amounts')
      parts.push(h('div', null, `改为 统筹 ${money(it.fund)} / 个账 ${money(it.account)} / 现金 ${money(it.cash)}`,
        h('span', { class: 'en' }, ' to count fund / account / cash')));
    if (it.correction && it.kind !== 'correction_waiting') parts.push(h('span', { class: 'id' }, `待复核更正 correction: ${it.correction} `));
    return parts;
  }

  function workActions(it) {
    if (it.kind === 'correction_waiting') return decideActions('correction', it.correction_id);
    if (it.kind === 'reentry_waiting') return decideActions('reentry', it.batch_id);
    if (it.kind === 'parked_reversal' || it.kind === 'parked_upload') return it.correction ? null : parkedActions(it, it.queue || 'outbox');
    if (String(it.kind).startsWith('parked_stay_')) return it.correction ? null : parkedActions(it, it.queue || 'stay');
    if (it.kind === 'rejected_offline_settlement' && it.setl_id && !it.correction) return undoAction(it);
    return null;
  }

  async function load() {
    try {
      const r = await call('work.list', {});
      clear(listBox);
      listBox.appendChild(h('p', { class: 'muted' }, `共 ${r.count} 项 items`));
      const tbody = h('tbody');
      for (const it of r.items || []) {
        const [zh, en] = workKind(it.kind);
        tbody.appendChild(h('tr', { 'data-testid': 'work-row', 'data-kind': it.kind },
          h('td', null, h('b', null, zh), h('div', { class: 'en' }, en)),
          h('td', null, ids(it)),
          h('td', null, it.reason || DASH, it.recorded_by ? h('div', { class: 'muted small' }, `登记人 by ${it.recorded_by}`) : null),
          h('td', null, fmtTime(it.since)),
          h('td', { class: 'small' }, it.what_to_do || ''),
          h('td', null, workActions(it))));
      }
      if (!(r.items || []).length) tbody.appendChild(h('tr', null, h('td', { colspan: 6, class: 'muted' }, '没有待办事项。 Nothing waits.')));
      listBox.appendChild(h('table', { class: 'grid' },
        h('thead', null, h('tr', null, ['类别|kind', '标识|ids', '原因|reason', '起始|since', '处理办法|what to do', '操作|actions']
          .map((x) => h('th', null, bi(...x.split('|')))))), tbody));
    } catch (e) { err.show(e); }
    if (!isSup) return;
    try {
      const p = await call('outbox.parked', {});
      clear(parkedBox).appendChild(table([
        { zh: '队列', en: 'queue', key: 'queue' }, { zh: '项目', en: 'item', key: 'item_id' },
        { zh: '类别', en: 'kind', key: 'kind' },
        { zh: '对象', en: 'what', cell: (x) => (x.setl_id ? link(`#/settlement/${encodeURIComponent(x.setl_id)}`, `结算 ${x.setl_id}`) : fmtVal(x.msgid || x.adm_id || x.request_id)) },
        { zh: '人员', en: 'person', key: 'psn_no_masked' },
        { zh: '被拒/尝试', en: 'refusals/attempts', cell: (x) => `${x.refusals ?? DASH} / ${x.attempts ?? DASH}` },
        { zh: '原因', en: 'reason', key: 'reason' }, { zh: '起始', en: 'since', cell: (x) => fmtTime(x.since) },
        { zh: '等待', en: 'behind', key: 'behind' },
        { zh: '操作', en: 'actions', cell: (x) => parkedActions(x, x.queue || 'outbox') },
      ], p.items || [], (x) => ({ 'data-testid': 'parked-row', 'data-item-id': x.item_id })));
    } catch (e) { err.show(e); }
  }
  page.onWork = () => load();
  await load();
};

// ---- close-outs -----------------------------------------------------------------------

function closeoutFigures(c) {
  const rows = [['settlements', '结算合计', 'all settlements'], ['online', '其中联网', 'online'], ['offline', '其中离线', 'offline'], ['refunds', '退费', 'refunds']]
    .map(([k, zh, en]) => Object.assign({ label: [zh, en] }, c[k] || {}));
  return h('div', null,
    table([{ zh: '项目', en: '', cell: (r) => bi(...r.label) }, { zh: '笔数', en: 'count', key: 'count', num: true }, ...PART_COLS], rows),
    kv([['收取现金', 'cash taken', c.cash_taken], ['退还现金', 'cash paid back', c.cash_paid_back],
      ['应交现金', 'cash to hand over', h('b', { 'data-testid': 'cash-to-hand-over' }, money(c.cash_to_hand_over))]]));
}

function closeoutItems(c, withHeading = true) {
  return h('div', null,
    (c.corrections || []).length ? h('div', null, h('h3', null, bi('本期生效的更正（不计入应交现金）', 'Corrections approved since, not in the cash to hand over')), table([
      { zh: '更正号', en: 'id', key: 'correction_id' },
      { zh: '结算号', en: 'setl_id', cell: (x) => (x.setl_id ? link(`#/settlement/${encodeURIComponent(x.setl_id)}`, String(x.setl_id)) : DASH) },
      { zh: '动作', en: 'action', key: 'action' },
      { zh: '统筹变动', en: 'fund Δ', key: 'fund_delta', num: true }, { zh: '个账变动', en: 'account Δ', key: 'account_delta', num: true },
      { zh: '现金变动', en: 'cash Δ', key: 'cash_delta', num: true }, { zh: '原因', en: 'reason', key: 'reason' },
      { zh: '登记/复核', en: 'recorded/approved by', cell: (x) => `${fmtVal(x.recorded_by)} / ${fmtVal(x.approved_by)}` },
      { zh: '复核于', en: 'approved at', cell: (x) => fmtTime(x.approved_at) },
    ], c.corrections)) : null,
    withHeading ? h('h3', null, bi('明细', 'Items')) : null,
    table([
      { zh: '类别', en: 'kind', cell: (i) => (i.kind === 'refund' ? '退费 refund' : '结算 settlement') },
      { zh: '号', en: 'id', key: 'id' },
      { zh: '结算号', en: 'setl_id', cell: (i) => { const sid = i.kind === 'refund' ? i.setl_id : i.id; return sid ? link(`#/settlement/${encodeURIComponent(sid)}`, String(sid)) : DASH; } },
      { zh: '时间', en: 'time', cell: (i) => fmtTime(i.time) }, { zh: '方式', en: 'mode', key: 'mode' },
      { zh: '状态', en: 'state', key: 'state' }, { zh: '门诊/住院', en: 'visit', key: 'visit' }, { zh: '收据号', en: 'receipt', key: 'receipt_no' },
      ...PART_COLS,
    ], c.items || []));
}

RENDER.closeouts = async (root) => {
  const err = errorBox();
  const ok = okBox();
  const r = role();
  add(root, heading('日结', 'Close-outs'), err, ok);

  if (r === 'cashier' || r === 'supervisor') {
    const prevBox = h('div', { 'data-testid': 'closeout-preview' });
    const preview = h('button', { type: 'button', 'data-action': 'preview' }, '预览本班日结 ', h('span', { class: 'en' }, 'Preview my shift'));
    const record = h('button', { type: 'button', class: 'primary', 'data-action': 'record', disabled: true }, '确认日结 ', h('span', { class: 'en' }, 'Record close-out'));
    const dayDate = h('input', { type: 'date', name: 'report_date', value: today() });
    const dayBtn = h('button', { type: 'button', 'data-action': 'day-report' }, '当日报表 ', h('span', { class: 'en' }, 'Day report'));
    let requestId = null;
    preview.addEventListener('click', () => act(preview, err, async () => {
      ok.clear();
      const c = await call('closeout.preview', {});
      if (!requestId) requestId = newRequestId(`CO-${state.session.window}`);
      add(clear(prevBox), h('p', { class: 'notice' }, `预览（未日结）：${fmtTime(c.from)} 至 ${fmtTime(c.to)}，操作员 ${c.operator}，窗口 ${c.window}。 Preview, not recorded.`),
        closeoutFigures(c), closeoutItems(c));
      record.disabled = false;
    }));
    record.addEventListener('click', () => {
      if (!confirm('确认日结？日结后不可更改。 Record the close-out? It cannot be changed afterwards.')) return;
      act(record, err, async () => {
        const c = await call('closeout.record', { request_id: requestId });
        requestId = null;
        location.hash = `#/closeout/${encodeURIComponent(c.closeout_id)}`;
      });
    });
    dayBtn.addEventListener('click', () => act(dayBtn, err, async () => {
      const c = await call('closeout.preview', { date: dayDate.value });
      add(clear(prevBox), h('p', { class: 'notice' }, `收费员日报 ${dayDate.value}（报表，不记录）。 Day report, not recorded.`), closeoutFigures(c), closeoutItems(c));
      record.disabled = true;
    }));
    root.appendChild(section('本班日结', `My shift (${state.session.operator} · ${state.session.window})`,
      h('div', { class: 'actions' }, preview, record, field('日期', 'date', dayDate), dayBtn), prevBox));
  }

  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const op = h('input', { name: 'operator', size: 8 });
  const win = h('input', { name: 'window', size: 6 });
  const go = h('button', { type: 'submit', 'data-action': 'search' }, '查询 ', h('span', { class: 'en' }, 'Search'));
  const out = h('div');
  const more = h('div', { class: 'pager' });
  const form = h('form', { class: 'filters' }, field('自', 'from', from), field('至', 'to', to),
    r === 'cashier' ? null : field('操作员', 'operator', op), r === 'cashier' ? null : field('窗口', 'window', win), go);
  root.appendChild(section('已日结', 'Recorded close-outs', form, out, more));
  let rows = [];
  async function load(cursor) {
    await act(go, err, async () => {
      const p = { limit: 50 };
      if (from.value) p.from = from.value;
      if (to.value) p.to = to.value;
      if (op.value.trim()) p.operator = op.value.trim();
      if (win.value.trim()) p.window = win.value.trim();
      if (cursor) p.cursor = cursor;
      const res = await call('closeout.list', p);
      rows = cursor ? rows.concat(res.closeouts || []) : (res.closeouts || []);
      clear(out).appendChild(table([
        { zh: '日结号', en: 'id', cell: (c) => link(`#/closeout/${encodeURIComponent(c.closeout_id)}`, String(c.closeout_id)) },
        { zh: '操作员', en: 'operator', key: 'operator' }, { zh: '窗口', en: 'window', key: 'window' },
        { zh: '自', en: 'from', cell: (c) => fmtTime(c.from) }, { zh: '至', en: 'to', cell: (c) => fmtTime(c.to) },
        { zh: '日结于', en: 'recorded', cell: (c) => fmtTime(c.recorded_at) },
        { zh: '结算笔数', en: 'settlements', cell: (c) => fmtVal(c.settlements && c.settlements.count), num: true },
        { zh: '结算总额', en: 'total', cell: (c) => fmtVal(c.settlements && c.settlements.total), num: true },
        { zh: '退费笔数', en: 'refunds', cell: (c) => fmtVal(c.refunds && c.refunds.count), num: true },
        { zh: '应交现金', en: 'cash to hand over', key: 'cash_to_hand_over', num: true },
      ], rows, (c) => ({ 'data-testid': 'closeout-row', 'data-closeout-id': c.closeout_id })));
      moreButton(more, res, load);
    });
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(null); });
  await load(null);
};

RENDER.closeout = async (root, id) => {
  const err = errorBox();
  add(root, heading(`日结 ${id}`, 'Close-out'), err);
  const c = await call('closeout.get', { closeout_id: id }).catch((e) => { err.show(e); return null; });
  if (!c) return;
  const sheetUrl = `/api/sheet/closeout/${encodeURIComponent(id)}`;
  root.appendChild(h('div', { class: 'cols' },
    h('div', { class: 'col' },
      section('日结', 'Close-out', kv([
        ['日结号', 'closeout_id', c.closeout_id], ['操作员', 'operator', c.operator], ['窗口', 'window', c.window],
        ['自', 'from', fmtTime(c.from)], ['至', 'to', fmtTime(c.to)], ['日结于', 'recorded at', fmtTime(c.recorded_at)],
        ['请求号', 'request_id', c.request_id], ['校验码', 'digest', h('code', null, fmtVal(c.digest))],
      ]), closeoutFigures(c)),
      section('明细', 'Items', closeoutItems(c, false))),
    h('div', { class: 'col sheet-col' },
      section('日结单', 'Close-out sheet',
        sheetActions(sheetUrl, 'A4', 'A5'),
        sheetFrame(sheetUrl, `日结单 ${id}`)))));
};

// ---- reconciliation, reports and the day's charts -----------------------------------------

function partsRow(label, side) {
  return Object.assign({ label }, side || {});
}

function adjText(a) {
  return a ? `${a.count} 笔，统筹 fund ${a.fund}，现金 cash ${a.cash}` : null;
}

function reconResult(r) {
  const badge = h('div', { class: `badge ${r.balanced ? 'good' : 'bad'}`, 'data-testid': 'recon-balanced', 'data-balanced': String(!!r.balanced) },
    r.balanced ? '平账 balanced' : '不平 not balanced');
  const rows = [];
  for (const [k, zh] of [[null, '合计'], ['outpatient', '门诊'], ['inpatient', '住院']]) {
    const part = k ? r[k] : r;
    if (!part) continue;
    rows.push(partsRow(`${zh} 本院 local`, part.local));
    rows.push(partsRow(`${zh} 医保中心 insurer`, part.insurer));
  }
  const counts = Object.entries(r.difference_counts || {}).map(([k, v]) => `${k}: ${v}`).join('，') || '无 none';
  return h('div', { 'data-testid': 'recon-result' },
    h('div', { class: 'actions' }, badge,
      h('span', null, `${r.date}　总账${r.totals_balanced ? '相符' : '不符'} totals ${r.totals_balanced ? 'agree' : 'differ'}　运行于 ${fmtTime(r.run_at)}（${r.elapsed_ms} ms）`)),
    r.hospital ? h('p', { class: 'muted' }, `${r.hospital.name || ''} ${r.hospital.code || ''}`) : null,
    table([{ zh: '', en: '', cell: (x) => x.label }, { zh: '笔数', en: 'count', key: 'count', num: true }, ...PART_COLS], rows),
    h('p', null, `差异 differences: ${counts}`),
    table([
      { zh: '类别', en: 'kind', key: 'kind' }, { zh: '门诊/住院', en: 'visit', key: 'visit_type' },
      { zh: '医保结算号', en: 'insurer setl_id', key: 'setl_id' }, { zh: '报文号', en: 'msgid', key: 'msgid' },
      { zh: '本院结算号', en: 'local setl_id', cell: (d) => (d.local_setl_id ? link(`#/settlement/${encodeURIComponent(d.local_setl_id)}`, String(d.local_setl_id)) : DASH) },
      { zh: '本院', en: 'local', cell: (d) => (d.local ? `${d.local.state} ${d.local.total}/${d.local.fund}/${d.local.account}/${d.local.cash}` : DASH) },
      { zh: '医保中心', en: 'insurer', cell: (d) => (d.insurer ? `${d.insurer.state} ${d.insurer.total}/${d.insurer.fund}/${d.insurer.account}/${d.insurer.cash}` : DASH) },
    ], r.differences || [], () => ({ 'data-testid': 'recon-difference' })),
    (r.not_uploaded || []).length ? h('div', null, h('h3', null, bi('尚未上传', 'Not uploaded yet')), genericTable(r.not_uploaded)) : null,
    (r.by_insutype || []).length ? h('div', null, h('h3', null, bi('按险种', 'By insurance type')), table([
      { zh: '险种', en: 'insutype', key: 'insutype' },
      { zh: '结果', en: 'balanced', cell: (x) => h('span', { class: x.balanced ? 'good' : 'bad' }, x.balanced ? '平 balanced' : '不平 not balanced') },
      { zh: '本院', en: 'local count/total', cell: (x) => (x.local ? `${x.local.count} / ${x.local.total}` : DASH) },
      { zh: '医保中心', en: 'insurer count/total', cell: (x) => (x.insurer ? `${x.insurer.count} / ${x.insurer.total}` : DASH) },
    ], r.by_insutype)) : null,
    h('h3', null, bi('调整与账本', 'Adjustments & ledger')),
    kv([
      ['离线上传调整', 'offline upload adjustments', adjText(r.adjustments && r.adjustments.offline_upload)],
      ['更正调整', 'corrections', adjText(r.adjustments && r.adjustments.correction)],
      ['账本链', 'ledger chain', r.ledger_chain ? (r.ledger_chain.intact ? `完整 intact（${r.ledger_chain.entries} 条）` : `有问题 problems: ${fmtVal(r.ledger_chain.problems)}`) : null],
    ]));
}

// Hours since the day's midnight in the time's own offset.
function hourOfDay(t, date, ms) {
  const off = offsetOf(t) || '';
  return ((ms === undefined ? Date.parse(t) : ms) - Date.parse(`${date}T00:00:00${off}`)) / 3600000;
}

function chartWidth(el) {
  return Math.max(360, Math.min(1200, (el.clientWidth || 640) - 8));
}

RENDER.recon = async (root) => {
  const err = errorBox();
  const date = h('input', { type: 'date', name: 'date', value: today() });
  const run = h('button', { type: 'button', class: 'primary', 'data-action': 'recon-run' }, '运行对账 ', h('span', { class: 'en' }, 'Reconcile'));
  const charts = h('button', { type: 'button', 'data-action': 'charts' }, '刷新图表 ', h('span', { class: 'en' }, 'Charts'));
  const result = h('div');
  const reports = h('div', { 'data-testid': 'reports' });
  const chartSettle = h('div', { class: 'chart', 'data-testid': 'chart-settlements' });
  const chartOutage = h('div', { class: 'chart', 'data-testid': 'chart-outages' });
  const chartNote = h('p', { class: 'muted small' });
  add(root, heading('对账与演练', 'Reconciliation & drills'), err,
    h('div', { class: 'filters' }, field('日期', 'date', date), run, charts),
    section('对账结果', 'Reconciliation', result),
    section('当日图表', 'The day in charts',
      h('h3', null, bi('每小时结算笔数（联网 / 离线）', 'Settlements per hour, online vs offline')), chartSettle,
      h('h3', null, bi('停机时段', 'Outage periods')), chartOutage, chartNote),
    section('报告', 'Reports (nightly reconciliation, drills)', reports));

  run.addEventListener('click', () => act(run, err, async () => {
    clear(result).appendChild(h('p', { class: 'muted' }, '正在对账… Reconciling…'));
    try {
      const r = await call('recon.run', { date: date.value });
      clear(result).appendChild(reconResult(r));
    } catch (e) { clear(result); throw e; }
  }));

  async function loadReports() {
    try {
      const r = await getJson('/api/reports');
      clear(reports).appendChild(table([
        { zh: '名称', en: 'name', cell: (x) => link(`/api/reports/${encodeURIComponent(x.name)}`, x.name, { target: '_blank', rel: 'noopener' }) },
        { zh: '类别', en: 'kind', cell: (x) => (x.kind === 'recon' ? '对账 recon' : x.kind === 'drill' ? '演练 drill' : x.kind) },
        { zh: '日期', en: 'date', key: 'date' }, { zh: '格式', en: 'format', key: 'format' },
        { zh: '大小', en: 'size', key: 'size', num: true }, { zh: '修改于', en: 'modified', cell: (x) => fmtTime(x.mtime) },
      ], r.reports || [], () => ({ 'data-testid': 'report-row' })));
    } catch (e) { clear(reports).appendChild(h('p', { class: 'bad' }, errorText(e))); }
  }

  const plots = [];
  async function loadCharts() {
    await act(charts, err, async () => {
      while (plots.length) plots.pop().destroy();
      clear(chartSettle); clear(chartOutage); chartNote.textContent = '';
      const d = date.value;
      const online = new Array(24).fill(0), offline = new Array(24).fill(0);
      let cursor = null, n = 0, pages = 0;
      do {
        const p = { from: d, to: d, limit: 500 };
        if (cursor) p.cursor = cursor;
        const r = await call('settle.list', p);
        for (const s of r.settlements || []) {
          const hr = Math.floor(hourOfDay(s.time, d));
          if (hr < 0 || hr > 23) continue;
          (s.mode === 'offline' ? offline : online)[hr] += 1;
          n += 1;
        }
        cursor = r.cursor;
        pages += 1;
      } while (cursor && pages < 200);
      const o = await call('outage.list', { from: d, to: d, limit: 500 });
      const outages = o.outages || [];
      chartNote.textContent = `${d}：结算 ${n} 笔 settlements，停机 ${outages.length} 次 outages。`;
      if (typeof uPlot === 'undefined') { err.show('图表组件未加载 (uPlot missing)'); return; }
      const hours = Array.from({ length: 24 }, (_, i) => i);
      const bars = (align) => (uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.4, 30], align }) : undefined);
      const xAxis = { label: '时 hour', values: (_u, vals) => vals.map((v) => `${v}`) };
      plots.push(new uPlot({
        width: chartWidth(chartSettle), height: 200, scales: { x: { time: false, range: [-0.5, 23.5] } },
        axes: [xAxis, { label: '笔 count' }],
        series: [{ label: '时 hour' },
          { label: '联网 online', stroke: '#2e7d32', fill: 'rgba(46,125,50,0.35)', paths: bars(-1), points: { show: false } },
          { label: '离线 offline', stroke: '#c62828', fill: 'rgba(198,40,40,0.35)', paths: bars(1), points: { show: false } }],
      }, [hours, online, offline], chartSettle));
      // Outages as steps over the day: 1 while one of the kind is open.
      const kinds = [...new Set(outages.map((x) => x.kind))];
      if (!kinds.length) { chartOutage.appendChild(h('p', { class: 'muted' }, '当日无停机。 No outage that day.')); return; }
      const edges = new Set([0, 24]);
      const spans = outages.map((x) => {
        const a = Math.max(0, hourOfDay(x.started_at, d));
        const b = Math.min(24, hourOfDay(x.started_at, d, x.ended_at ? Date.parse(x.ended_at) : Date.now()));
        edges.add(a); edges.add(b);
        return { kind: x.kind, a, b: Math.max(a, b) };
      });
      const xs = [...edges].sort((p, q) => p - q);
      const colours = { line: '#c62828', crash: '#6a1b9a', drill: '#1565c0', storage: '#ef6c00', reader: '#558b2f', network: '#00838f' };
      const data = [xs];
      const series = [{ label: '时 hour' }];
      kinds.forEach((k, i) => {
        // A point at each edge inside one of its spans: a flat line from start to end, gaps between.
        data.push(xs.map((x) => (spans.some((s) => s.kind === k && x >= s.a && x <= s.b) ? i + 1 : null)));
        series.push({ label: `${OUTAGE_KIND[k] || ''} ${k}`, stroke: colours[k] || '#444', width: 8, points: { show: true, size: 8 } });
      });
      plots.push(new uPlot({
        width: chartWidth(chartOutage), height: 110 + 30 * kinds.length,
        scales: { x: { time: false, range: [0, 24] }, y: { range: [0.5, kinds.length + 0.5] } },
        axes: [xAxis, { size: 90, splits: () => kinds.map((_k, i) => i + 1), values: (_u, vals) => vals.map((v) => `${OUTAGE_KIND[kinds[v - 1]] || ''} ${kinds[v - 1] || ''}`) }],
        series,
      }, data, chartOutage));
    });
  }
  charts.addEventListener('click', loadCharts);
  date.addEventListener('change', loadCharts);
  await Promise.all([loadReports(), loadCharts()]);
};

// ---- outages ----------------------------------------------------------------------

const OUTAGE_KIND = { line: '医保专线', crash: '异常停止', drill: '演练', storage: '存储', reader: '读卡器', network: '院内网络' };

RENDER.outages = async (root) => {
  const err = errorBox();
  const from = h('input', { type: 'date', name: 'from', value: today() });
  const to = h('input', { type: 'date', name: 'to', value: today() });
  const kind = h('select', { name: 'kind' }, h('option', { value: '' }, '全部 all'),
    Object.entries(OUTAGE_KIND).map(([k, v]) => h('option', { value: k }, `${v} ${k}`)));
  const go = h('button', { type: 'submit', 'data-action': 'search' }, '查询 ', h('span', { class: 'en' }, 'Search'));
  const out = h('div');
  const more = h('div', { class: 'pager' });
  const form = h('form', { class: 'filters' }, field('自', 'from', from), field('至', 'to', to), field('类别', 'kind', kind), go);
  add(root, heading('停机记录', 'Outages'), form, err, out, more, recordForm(err, () => load(null)));
  let rows = [];
  async function load(cursor) {
    await act(go, err, async () => {
      const p = { limit: 100 };
      if (from.value) p.from = from.value;
      if (to.value) p.to = to.value;
      if (kind.value) p.kind = kind.value;
      if (cursor !== null && cursor !== undefined) p.cursor = cursor;
      const r = await call('outage.list', p);
      rows = cursor ? rows.concat(r.outages || []) : (r.outages || []);
      clear(out).appendChild(table([
        { zh: '编号', en: 'id', cell: (o) => link(`#/outage/${o.outage_id}`, String(o.outage_id)) },
        { zh: '类别', en: 'kind', cell: (o) => `${OUTAGE_KIND[o.kind] || ''} ${o.kind}` },
        { zh: '开始', en: 'started', cell: (o) => fmtTime(o.started_at) },
        { zh: '结束', en: 'ended', cell: (o) => (o.open ? h('b', { class: 'bad' }, '进行中 open') : fmtTime(o.ended_at)) },
        { zh: '时长', en: 'duration', cell: (o) => fmtDur(o.duration_s) },
        { zh: '原因', en: 'cause', key: 'cause' }, { zh: '结束说明', en: 'end note', key: 'end_note' },
      ], rows, (o) => ({ 'data-testid': 'outage-row', 'data-outage-id': o.outage_id })));
      moreButton(more, r, load);
    });
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(null); });
  await load(null);
};

// The daemon's zone offset (+08:00), for times typed into the page.
function daemonOffset() {
  const off = offsetOf(state.status && state.status.since) || offsetOf(state.pub && state.pub.since);
  if (off) return off === 'Z' ? '+00:00' : off;
  const m = -new Date().getTimezoneOffset();
  const p = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
  return `${m < 0 ? '-' : '+'}${p(m / 60)}:${p(m % 60)}`;
}

// An outage only people saw (the hospital's network, a reader, a drill), once it is over.
function recordForm(err, done) {
  const ok = okBox();
  const kind = h('select', { name: 'record_kind' },
    ['network', 'reader', 'drill', 'line', 'storage'].map((k) => h('option', { value: k }, `${OUTAGE_KIND[k]} ${k}`)));
  const cause = h('input', { name: 'cause', maxlength: 500, size: 30, required: true });
  const start = h('input', { type: 'datetime-local', name: 'started_at', required: true });
  const end = h('input', { type: 'datetime-local', name: 'ended_at', required: true });
  const note = h('input', { name: 'record_note', maxlength: 2000, size: 30 });
  const btn = h('button', { type: 'submit', 'data-action': 'record-outage' }, '登记 ', h('span', { class: 'en' }, 'Record'));
  const f = h('form', { class: 'filters' }, field('类别', 'kind', kind), field('原因', 'cause', cause),
    field('开始', 'started', start), field('结束', 'ended', end), field('备注', 'note', note), btn);
  const withOffset = (v) => `${v.length === 16 ? `${v}:00` : v}${daemonOffset()}`;
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(btn, err, async () => {
      ok.clear();
      const p = { kind: kind.value, cause: cause.value.trim(), started_at: withOffset(start.value), ended_at: withOffset(end.value) };
      if (note.value.trim()) p.note = note.value.trim();
      const o = await call('outage.record', p);
      ok.show(`已登记停机记录 ${o.outage_id}。 Recorded.`);
      cause.value = note.value = '';
      done();
    });
  });
  return section('登记人工发现的停机（已结束）', 'Record an outage people saw, once over', f,
    h('p', { class: 'muted small' }, `时间按结算服务器时区 ${daemonOffset()}。 Times in the daemon's zone.`), ok);
}

const TOLD = ['全院各科室', '信息科', '软件厂商', '医保中心', '导医台', '收费处', '药房', '院领导'];

RENDER.outage = async (root, id) => {
  const err = errorBox();
  const ok = okBox();
  add(root, heading(`停机记录 ${id}`, 'Outage'), err, ok);
  const body = h('div');
  root.appendChild(body);
  async function load() {
    const o = await call('outage.get', { outage_id: Number(id) }).catch((e) => { err.show(e); return null; });
    if (!o) return;
    const f = o.figures || {};
    const up = f.uploads || {}, rv = f.reversals || {}, adj = f.adjustments || {};
    const kindSel = h('select', { name: 'kind' }, h('option', { value: 'told' }, '已通知 told'), h('option', { value: 'note' }, '备注 note'));
    const target = h('input', { name: 'target', list: 'told-targets', required: true, maxlength: 200, size: 20 });
    const detail = h('input', { name: 'detail', maxlength: 2000, size: 40, placeholder: '方式、时间、接听人 how, when, who answered' });
    const add = h('button', { type: 'submit', class: 'primary', 'data-action': 'note' }, '添加记录 ', h('span', { class: 'en' }, 'Add note'));
    const form = h('form', { class: 'filters' }, field('类别', 'kind', kindSel), field('对象', 'who / about', target),
      field('说明', 'detail', detail), add, h('datalist', { id: 'told-targets' }, TOLD.map((t) => h('option', { value: t }))));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!target.value.trim()) { err.show('请填写通知对象。 Write whom you told.'); return; }
      act(add, err, async () => {
        const p = { outage_id: Number(id), kind: kindSel.value, target: target.value.trim() };
        if (detail.value.trim()) p.detail = detail.value.trim();
        await call('outage.note', p);
        ok.show('已添加。 Added.');
        await load();
      });
    });
    const toldAlready = new Set((o.notes || []).filter((n) => n.kind === 'told').map((n) => n.target));
    const missing = o.kind === 'line' ? ['全院各科室', '软件厂商', '医保中心'].filter((t) => !toldAlready.has(t)) : [];
    clear(body).appendChild(h('div', { class: 'cols' },
      h('div', { class: 'col' },
        section('停机', 'Outage', kv([
          ['编号', 'id', o.outage_id], ['类别', 'kind', `${OUTAGE_KIND[o.kind] || ''} ${o.kind}`], ['原因', 'cause', o.cause],
          ['开始', 'started', fmtTime(o.started_at)], ['结束', 'ended', o.open ? '进行中 open' : fmtTime(o.ended_at)],
          ['时长', 'duration', fmtDur(o.duration_s)], ['结束说明', 'end note', o.end_note],
        ])),
        section('期间业务', 'Work of the period', kv([
          ['离线结算笔数', 'offline settlements', f.offline_settlements], ['离线结算总额', 'offline total', f.offline_total],
          ['统筹估算', 'fund estimate', f.offline_fund_estimate], ['收取现金', 'cash', f.offline_cash],
          ['上传：已受理 / 待传 / 挂起', 'uploads done / waiting / parked', `${fmtVal(up.done)} / ${fmtVal(up.waiting)} / ${fmtVal(up.parked)}`],
          ['冲正：排队 / 未完成', 'reversals queued / open', `${fmtVal(rv.queued)} / ${fmtVal(rv.open)}`],
          ['医保中心调整', 'insurer adjustments', `${fmtVal(adj.count)} 笔，统筹差 ${fmtVal(adj.fund_difference)}，现金差 ${fmtVal(adj.cash_difference)}`],
        ]))),
      h('div', { class: 'col' },
        section('通知与备注', 'Who was told, notes',
          missing.length ? h('p', { class: 'notice' }, `应急预案要求通知、尚无记录： ${missing.join('、')}　(not yet recorded as told)`) : null,
          table([
            { zh: '时间', en: 'at', cell: (n) => fmtTime(n.at) }, { zh: '类别', en: 'kind', key: 'kind' },
            { zh: '对象', en: 'target', key: 'target' }, { zh: '说明', en: 'detail', key: 'detail' }, { zh: '记录人', en: 'by', key: 'by' },
          ], o.notes || [], () => ({ 'data-testid': 'note-row' })),
          form))));
  }
  await load();
};

// ---- operators (admin) -------------------------------------------------------------------

RENDER.operators = async (root) => {
  const err = errorBox();
  const ok = okBox();
  const out = h('div');
  const roleSelect = (value) => h('select', { name: 'role' }, Object.entries(ROLE).map(([k, v]) => h('option', { value: k, selected: k === value }, `${v} ${k}`)));
  const nOp = h('input', { name: 'operator', required: true, maxlength: 64, size: 10 });
  const nRole = roleSelect('cashier');
  const nPw = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const addBtn = h('button', { type: 'submit', class: 'primary', 'data-action': 'add' }, '添加 ', h('span', { class: 'en' }, 'Add'));
  const addForm = h('form', { class: 'filters' }, field('操作员', 'operator', nOp), field('角色', 'role', nRole),
    field('初始密码', 'initial password', nPw), addBtn);
  add(root, heading('操作员', 'Operators'), err, ok,
    section('添加操作员', 'Add an operator', addForm,
      h('p', { class: 'muted small' }, '初始密码须在首次登录时修改。 The initial password is changed at the first login.')),
    section('全部操作员', 'All operators', out));

  addForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(addBtn, err, async () => {
      ok.clear();
      await call('operator.add', { operator: nOp.value.trim(), role: nRole.value, password: nPw.value });
      ok.show(`已添加 ${nOp.value.trim()}。 Added.`);
      nOp.value = nPw.value = '';
      await load();
    });
  });

  function opAction(btn, method, params, msg) {
    btn.addEventListener('click', () => act(btn, err, async () => {
      ok.clear();
      const p = typeof params === 'function' ? params() : params;
      if (!p) return;
      await call(method, p);
      ok.show(msg);
      await load();
    }));
    return btn;
  }

  async function load() {
    const r = await call('operator.list', {});
    clear(out).appendChild(table([
      { zh: '操作员', en: 'operator', key: 'operator' },
      { zh: '角色', en: 'role', cell: (o) => `${ROLE[o.role] || ''} ${o.role}` },
      { zh: '状态', en: 'state', cell: (o) => [o.disabled ? h('b', { class: 'bad' }, '已停用 disabled ') : '启用 enabled ', o.locked ? h('b', { class: 'bad' }, '已锁定 locked ') : null, o.password_change_required ? h('span', { class: 'muted' }, '待改密 initial password') : null] },
      { zh: '失败/锁定来源', en: 'sources', cell: (o) => ((o.sources || []).length ? o.sources.map((s) => `${s.source}: ${s.failed_attempts}${s.locked ? ' locked' : ''}${s.until ? ` until ${fmtTime(s.until)}` : ''}`).join('; ') : DASH) },
      { zh: '创建 (UTC)', en: 'created', cell: (o) => fmtTime(o.created) }, { zh: '更新 (UTC)', en: 'updated', cell: (o) => fmtTime(o.updated) },
      { zh: '操作', en: 'actions', cell: (o) => {
        const pw = h('input', { type: 'password', name: 'reset_password', autocomplete: 'new-password', size: 12, placeholder: '新初始密码 new initial' });
        const rs = roleSelect(o.role);
        return h('div', { class: 'row-actions' },
          o.disabled
            ? opAction(h('button', { type: 'button', 'data-action': 'enable' }, '启用 Enable'), 'operator.enable', { operator: o.operator }, `${o.operator} 已启用。`)
            : opAction(h('button', { type: 'button', 'data-action': 'disable' }, '停用 Disable'), 'operator.disable', () => (confirm(`停用 ${o.operator}？其会话将立即结束。 Disable ${o.operator}?`) ? { operator: o.operator } : null), `${o.operator} 已停用。`),
          o.locked || (o.sources || []).length ? opAction(h('button', { type: 'button', 'data-action': 'unlock' }, '解锁 Unlock'), 'operator.unlock', { operator: o.operator }, `${o.operator} 已解锁。`) : null,
          pw,
          opAction(h('button', { type: 'button', 'data-action': 'reset' }, '重置密码 Reset'), 'operator.reset_password', () => {
            if (!pw.value) { err.show('请输入新的初始密码。 Enter the new initial password.'); return null; }
            return { operator: o.operator, password: pw.value };
          }, `${o.operator} 的密码已重置为初始密码。`),
          rs,
          opAction(h('button', { type: 'button', 'data-action': 'set-role' }, '设角色 Set role'), 'operator.set_role', () => ({ operator: o.operator, role: rs.value }), `${o.operator} 的角色已更改。`));
      } },
    ], r.operators || [], (o) => ({ 'data-testid': 'operator-row', 'data-operator': o.operator })));
  }
  await load().catch((e) => err.show(e));
};

// ---- audit ------------------------------------------------------------------------

RENDER.audit = async (root) => {
  const err = errorBox();
  const from = h('input', { type: 'date', name: 'from', value: today() });
  const to = h('input', { type: 'date', name: 'to', value: today() });
  const op = h('input', { name: 'operator', size: 8 });
  const action = h('input', { name: 'action', size: 16, list: 'audit-actions' });
  const go = h('button', { type: 'submit', 'data-action': 'search' }, '查询 ', h('span', { class: 'en' }, 'Search'));
  const out = h('div');
  const more = h('div', { class: 'pager' });
  const actions = ['login_failed', 'locked_out', 'session.change_password', 'settle.commit', 'settle.refund', 'settle.get', 'closeout.record',
    'correction.record', 'correction.approve', 'outbox.resolve', 'operator.add', 'operator.disable', 'recon.run', 'outage.note'];
  const form = h('form', { class: 'filters' }, field('自', 'from', from), field('至', 'to', to), field('操作员', 'operator', op),
    field('动作', 'action', action), go, h('datalist', { id: 'audit-actions' }, actions.map((a) => h('option', { value: a }))));
  add(root, heading('审计日志', 'Audit trail'), form, err, out, more);
  let rows = [];
  async function load(cursor) {
    await act(go, err, async () => {
      const p = { limit: 100 };
      if (from.value) p.from = from.value;
      if (to.value) p.to = to.value;
      if (op.value.trim()) p.operator = op.value.trim();
      if (action.value.trim()) p.action = action.value.trim();
      if (cursor !== null && cursor !== undefined) p.cursor = cursor;
      const r = await call('audit.list', p);
      rows = cursor ? rows.concat(r.entries || []) : (r.entries || []);
      clear(out).appendChild(table([
        { zh: '编号', en: 'id', key: 'audit_id' }, { zh: '时间', en: 'time', cell: (e) => fmtTime(e.time) },
        { zh: '操作员', en: 'operator', key: 'operator' }, { zh: '窗口', en: 'window', key: 'window' },
        { zh: '来源', en: 'source', key: 'source' }, { zh: '动作', en: 'action', key: 'action' },
        { zh: '对象', en: 'object', key: 'object' },
        { zh: '结果', en: 'outcome', cell: (e) => h('span', { class: e.outcome === 'ok' ? '' : 'bad' }, fmtVal(e.outcome)) },
        { zh: '说明', en: 'detail', key: 'detail' },
      ], rows, () => ({ 'data-testid': 'audit-row' })));
      moreButton(more, r, load);
    });
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); load(null); });
  await load(null);
};

// ---- start ----------------------------------------------------------------------------

async function boot() {
  try { state.pub = await getJson('/api/public'); } catch { /* the login page says so */ }
  try {
    state.session = await getJson('/api/session');
    openEvents();
  } catch {
    state.session = null;
  }
  window.addEventListener('hashchange', route);
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = state.session ? '#/now' : '#/login';
  else route();
}

boot();
