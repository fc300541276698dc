// The office console in a real browser (Chromium driven by playwright-core)
// against the whole stack tests/console/stack.sh starts: roles, the live line
// state, two-person decisions, the printed close-out, XSS, CSRF and lockout.
//
//   tests/console/stack.sh BUILD_DIR -- node tests/console/console_test.mjs
//
// Each case prints its name; the first failure ends the run with exit status 1
// and says what was expected and what was seen. Screenshots (1366x768) of every
// page go to BUILD_DIR/console-screens/<page>.png, the close-out's PDF too.
import { createRequire } from 'node:module';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const webPackage = path.join(repo, 'tools/console/web/package.json');
let chromium;
try {
  ({ chromium } = createRequire(webPackage)('playwright-core'));
} catch (e) {
  console.error(`console_test: playwright-core is not installed (npm ci in ${path.dirname(webPackage)}): ${e.message}`);
  process.exit(2);
}

// ---- the stack's env file
if (!process.env.CONSOLE_TEST_ENV) {
  console.error('console_test: CONSOLE_TEST_ENV is not set: run it through tests/console/stack.sh BUILD_DIR -- node ...');
  process.exit(2);
}
const env = {};
for (const line of fs.readFileSync(process.env.CONSOLE_TEST_ENV, 'utf8').split('\n')) {
  const eq = line.indexOf('=');
  if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
}
const URL_ = env.CONSOLE_URL;
const screens = path.join(env.BUILD_DIR, 'console-screens');
fs.rmSync(screens, { recursive: true, force: true });  // only this run's pictures
fs.mkdirSync(screens, { recursive: true });
const setlIds = env.SETL_IDS.split(',');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

class Failure extends Error {}
function check(cond, what) {
  if (!cond) throw new Failure(what);
}
function eq(seen, expected, what) {
  if (JSON.stringify(seen) !== JSON.stringify(expected))
    throw new Failure(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(seen)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, what, timeoutMs = 10000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > end) throw new Failure(`${what} (not within ${timeoutMs} ms; last seen: ${JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

// ---- the insurer simulator's control endpoint and settlectl
async function simFaults(faults) {
  const r = faults === null
    ? await fetch(`${env.SIM_CONTROL}/faults`, { method: 'DELETE' })
    : await fetch(`${env.SIM_CONTROL}/faults`, { method: 'POST', body: JSON.stringify({ faults }) });
  check(r.ok, `insurer-sim /faults answered HTTP ${r.status}: ${await r.text()}`);
}
// A settlement at W01 by c001 with the card's PIN; settlectl's JSON answer (or its error).
function commitAtW01(requestId) {
  const r = spawnSync(env.SETTLECTL, ['commit', '--operator', 'c001', '--window', 'W01',
    '--password-file', env.PWFILE_c001, '--lines', env.LINES_FILE, '--request-id', requestId,
    '--pin-stdin', '--json'], {
    input: `${env.CARD_PIN}\n`, encoding: 'utf8', timeout: 30000,
    env: { ...process.env, SETTLED_SOCKET: env.SETTLED_SOCKET },
  });
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Failure(`settlectl commit ${requestId}: exit ${r.status}, no JSON: ${r.stdout}${r.stderr}`);
  }
}

// ---- the browser
let browser;
const contexts = [];
async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
  contexts.push(context);
  const page = await context.newPage();
  page.on('dialog', (d) => d.dismiss().catch(() => {}));
  return page;
}
async function screenshot(page, name) {
  await page.screenshot({ path: path.join(screens, `${name}.png`) });
}
// Goes to a hash route and waits for that page's root element.
async function show(page, route, name, shot = true) {
  await page.goto(`${URL_}/#/${route}`);
  await page.locator(`#page-${name}`).waitFor({ state: 'visible', timeout: 10000 })
    .catch((e) => { throw new Failure(`#/${route}: no visible #page-${name}: ${e.message.split('\n')[0]}`); });
  if (shot) await screenshot(page, name);
}
// Fills the login page and submits it; returns the /api/login response.
async function submitLogin(page, operator, password, window = 'W01') {
  const form = page.locator('#page-login');
  await form.waitFor({ state: 'visible', timeout: 10000 });
  await form.locator('[name=operator]').fill(operator);
  await form.locator('[name=password]').fill(password);
  const win = form.locator('[name=window]');
  if (await win.count()) {
    if ((await win.evaluate((e) => e.tagName)) === 'SELECT') await win.selectOption(window);
    else await win.fill(window);
  }
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/login') && r.request().method() === 'POST');
  await form.locator('button[type=submit], [type=submit]').first().click();
  return answer;
}
async function login(operator, window = 'W01') {
  const page = await newPage();
  await page.goto(`${URL_}/#/login`);
  const r = await submitLogin(page, operator, env[`PW_${operator}`], window);
  check(r.status() === 200, `login of ${operator}: HTTP ${r.status()} ${await r.text()}`);
  await page.locator('#page-login').waitFor({ state: 'hidden', timeout: 10000 })
    .catch(() => { throw new Failure(`login of ${operator}: the login page stayed`); });
  await page.locator('[data-nav]').first().waitFor({ timeout: 10000 })
    .catch(() => { throw new Failure(`login of ${operator}: no [data-nav] link appeared`); });
  return page;
}
// POST /api/call from the page (same origin, its cookie); token: the session's unless given.
async function api(page, method, params = {}, opts = {}) {
  return page.evaluate(async ({ method, params, opts }) => {
    const headers = { 'Content-Type': 'application/json' };
    let token = opts.token;
    if (token === undefined) token = (await (await fetch('/api/session')).json()).csrf_token;
    if (token !== null) headers['X-CSRF-Token'] = token;
    const r = await fetch('/api/call', { method: 'POST', headers, body: JSON.stringify({ method, params }) });
    let body = null;
    try { body = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, body };
  }, { method, params, opts });
}
async function result(page, method, params = {}) {
  const r = await api(page, method, params);
  check(r.status === 200 && r.body && r.body.result !== undefined,
    `${method} ${JSON.stringify(params)}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.result;
}
const attr = (page, sel, name) => page.locator(sel).first().getAttribute(name, { timeout: 1000 });
const count = async (page, field) =>
  Number.parseInt((await page.locator(`[data-testid=count-${field}]`).first().textContent({ timeout: 1000 })).trim(), 10);
async function errorText(page) {
  const e = page.locator('[data-testid=error]:visible');
  await e.first().waitFor({ timeout: 10000 }).catch(() => { throw new Failure('no visible [data-testid=error]'); });
  return (await e.allTextContents()).join(' ');
}
// The work row (#/work) of this kind holding `text`.
function workRow(page, kind, text) {
  return page.locator(`[data-testid=work-row][data-kind=${kind}]`, { hasText: text }).first();
}
// Types the note into a row's [data-testid=note] and presses its [data-action=ACTION].
async function rowAction(row, action, note) {
  await row.waitFor({ timeout: 10000 }).catch(() => { throw new Failure(`no row for ${action}`); });
  if (note !== undefined) await row.locator('[data-testid=note]').fill(note);
  await row.locator(`[data-action=${action}]`).click();
}
// Accepts the page's confirm() dialogs from now on.
function acceptDialogs(page) {
  page.removeAllListeners('dialog');
  page.on('dialog', (d) => d.accept().catch(() => {}));
}

// ---- the cases
const cases = [];
const test = (name, fn) => cases.push({ name, fn });

const navByRole = {
  adm1: { role: 'admin', has: ['operators', 'audit'], hasNot: ['day', 'work', 'closeouts', 'recon', 'outages'],
    forbidden: ['settle.list', { from: '2026-01-01', to: '2099-12-31' }] },
  s001: { role: 'supervisor', has: ['day', 'work', 'closeouts', 'recon', 'outages'], hasNot: ['operators', 'audit'],
    forbidden: ['audit.list', {}] },
  a001: { role: 'auditor', has: ['day', 'work', 'closeouts', 'recon', 'outages', 'audit'], hasNot: ['operators'],
    forbidden: ['uploads.flush', {}] },
  c001: { role: 'cashier', has: ['day', 'closeouts'], hasNot: ['work', 'recon', 'outages', 'operators', 'audit'],
    forbidden: ['operator.list', {}] },
};

test('login page', async () => {
  const page = await newPage();
  await show(page, 'login', 'login');
  const pub = await page.evaluate(async () => (await fetch('/api/public')).json());
  eq(pub.windows, ['W01', 'W02'], '/api/public windows');
  await page.context().close();
});

test('a. each role sees only its pages; the daemon refuses what the role may not call', async () => {
  for (const [op, want] of Object.entries(navByRole)) {
    const page = await login(op);
    const session = await page.evaluate(async () => (await fetch('/api/session')).json());
    eq(session.role, want.role, `${op}'s /api/session role`);
    for (const n of want.has)
      check(await page.locator(`[data-nav="${n}"]`).count() > 0, `${op} (${want.role}): nav link ${n} missing`);
    for (const n of want.hasNot)
      eq(await page.locator(`[data-nav="${n}"]`).count(), 0, `${op} (${want.role}): nav links "${n}"`);
    // Every page the role has a link to opens (and is photographed once).
    for (const n of want.has) {
      await page.locator(`[data-nav="${n}"]`).first().click();
      await page.locator(`#page-${n}`).waitFor({ state: 'visible', timeout: 10000 })
        .catch(() => { throw new Failure(`${op}: the ${n} link did not show #page-${n}`); });
      if (op === 's001' || !fs.existsSync(path.join(screens, `${n}.png`))) await screenshot(page, n);
    }
    const [method, params] = want.forbidden;
    const r = await api(page, method, params);
    eq(r.body?.error?.reason, 'FORBIDDEN', `${op} (${want.role}) calling ${method}: reason`);
    eq(r.body?.error?.data?.role, want.role, `${op} calling ${method}: the daemon's refusal names the role`);
    // A method the console does not offer: refused by the console itself.
    const card = await api(page, 'card.read', {});
    eq([card.status, card.body?.error?.reason], [403, 'FORBIDDEN'], `${op} calling card.read (not offered)`);
    await page.context().close();
  }
});

test('the day searched by receipt and by card (settle.list card_no, receipt_no)', async () => {
  const page = await login('a001');
  // Today in the daemon's zone (its answers carry their offset), not the
  // browser's: between their midnights the two days differ.
  const status = await result(page, 'engine.status', {});
  const off = /([+-])(\d\d):(\d\d)$/.exec(String(status.since || ''));
  check(off || /Z$/.test(String(status.since || '')), `engine.status gave no zoned time: ${JSON.stringify(status.since)}`);
  const mins = off ? (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3])) : 0;
  const today = new Date(Date.now() + mins * 60000).toISOString().slice(0, 10);
  const all = await result(page, 'settle.list', { from: today, to: today });
  check(all.settlements.length >= 2, `fewer than two settlements today: ${all.settlements.length}`);
  const one = all.settlements[1];
  await show(page, 'day', 'day', false);
  await page.locator('input[name=receipt]').fill(one.receipt_no);
  await page.locator('[data-action=search]').click();
  await until(async () => (await page.locator('[data-testid=settlement-row]').count()) === 1,
    `the search by receipt ${one.receipt_no} did not list exactly one settlement`);
  eq(await page.locator('[data-testid=settlement-row]').first().getAttribute('data-setl-id'), one.setl_id,
    'the settlement found by its receipt');
  const byCard = await result(page, 'settle.list', { from: today, to: today, card_no: one.card_no });
  eq(byCard.settlements.length, all.settlements.filter((x) => x.card_no === one.card_no).length,
    'settle.list by card: every settlement of that card today, and only those');
  const none = await result(page, 'settle.list', { from: today, to: today, card_no: 'X00000000' });
  eq(none.settlements.length, 0, 'settle.list by a card with no settlement');
  await page.context().close();
});

let s001;  // the supervisor's page, kept for the cases that follow
test('b. the line goes offline and comes back, live on #/now', async () => {
  s001 = await login('s001');
  await show(s001, 'now', 'now', false);
  await until(async () => (await attr(s001, '[data-testid=line-state]', 'data-state')) === 'online',
    'the line state is not online at the start');
  await until(async () => Number.isInteger(await count(s001, 'pending_uploads')), 'no count-pending_uploads');
  const before = await count(s001, 'pending_uploads');
  // Who works at each window (session.list): the supervisor itself at W01.
  await until(async () => ((await s001.locator('[data-testid=window-row][data-window=W01] [data-testid=window-operator]')
    .textContent()) || '').includes('s001'), 'W01\'s row does not name its operator s001');
  await s001.evaluate(() => { window.__sameDocument = true; });
  await simFaults(['refuse']);
  const made = commitAtW01('ct-offline-1');
  eq(made.state, 'offline_pending', `the settlement made while the insurer refuses (${JSON.stringify(made)})`);
  await until(async () => (await attr(s001, '[data-testid=line-state]', 'data-state')) === 'offline',
    'line-state did not become data-state=offline');
  await until(async () => (await count(s001, 'pending_uploads')) > before,
    `count-pending_uploads did not rise above ${before}`);
  await screenshot(s001, 'now-offline');
  await simFaults(null);
  // The supervisor's "send stored work now" (uploads.flush) on the page.
  await s001.locator('[data-action=flush]').click();
  await until(async () => (await attr(s001, '[data-testid=line-state]', 'data-state')) === 'online',
    'line-state did not come back to online');
  await until(async () => (await count(s001, 'pending_uploads')) === before,
    `count-pending_uploads did not fall back to ${before}`);
  check(await s001.evaluate(() => window.__sameDocument === true), 'the page was reloaded (the state must come live)');
  await screenshot(s001, 'now');
});

test('c. a parked reversal resolved by one supervisor and approved by another', async () => {
  // 2207's answer lost: the settlement is in doubt and reversed; the insurer refuses
  // the reversal (2601) once and it is parked.
  await simFaults(['lost_reply:count=1,infno=2207', 'error:infno=2601']);
  const lost = commitAtW01('ct-lost-1');
  check(lost.state === 'offline_pending' || lost.error?.reason === 'IN_DOUBT',
    `the settlement whose answer was lost: ${JSON.stringify(lost)}`);
  const st = await until(async () => {
    const s = await result(s001, 'engine.status');
    return s.parked_reversals === 1 && s.pending_reversals === 0 && s;
  }, 'the refused reversal was not parked', 20000);
  await simFaults(null);
  const parked = (await result(s001, 'outbox.parked')).items;
  eq(parked.length, 1, `parked items (status ${JSON.stringify(st)})`);
  const note = 'reversed by the insurance office by phone, ticket CT-7781';
  await show(s001, 'work', 'work', false);
  const row = workRow(s001, 'parked_reversal', parked[0].msgid);
  await row.waitFor({ timeout: 10000 }).catch(() => { throw new Failure('no work row for the parked reversal'); });
  await screenshot(s001, 'work');
  await rowAction(row, 'resolve', note);
  const corr = await until(async () => {
    const list = (await result(s001, 'correction.list', { state: 'recorded' })).corrections;
    return list.find((c) => c.action === 'resolve' && c.item_id === parked[0].item_id);
  }, 'resolve in the page recorded no correction for the parked item');
  eq(corr.reason, note, 'the correction\'s reason (the note typed in the page)');
  eq(corr.recorded_by, 's001', 'the correction\'s recorder');
  // The recorder may not approve it: the daemon's words are shown.
  await show(s001, 'work', 'work', false);
  await rowAction(workRow(s001, 'correction_waiting', note), 'approve', 'approving my own');
  const shown = await errorText(s001);
  check(shown.includes('a second person decides it'), `s001 approving its own correction: the page shows "${shown}"`);
  eq((await result(s001, 'outbox.parked')).items.length, 1, 'the item after the refused self-approval');
  // The second supervisor approves it in the page.
  const s002 = await login('s002', 'W02');
  await show(s002, 'work', 'work', false);
  await rowAction(workRow(s002, 'correction_waiting', note), 'approve', 'checked with the insurer');
  await until(async () => (await result(s001, 'outbox.parked')).items.length === 0,
    'the parked item did not leave outbox.parked after s002 approved');
  const done = (await result(s001, 'correction.list', {})).corrections
    .find((c) => c.correction_id === corr.correction_id);
  eq([done.state, done.decided_by], ['approved', 's002'], 'the correction after approval');
  eq((await result(s001, 'engine.status')).parked_reversals, 0, 'parked_reversals after approval');
  await s002.context().close();
});

test('d. a correction of a settlement\'s figures, approved in the page', async () => {
  const id = setlIds[0];
  const s = await result(s001, 'settle.get', { setl_id: id });
  const fen = (a) => Math.round(Number.parseFloat(a) * 100);
  const yuan = (f) => (f / 100).toFixed(2);
  check(fen(s.account) >= 100, `settlement ${id} paid ${s.account} from the account: too little to move 1.00`);
  const reason = 'CT: the insurer\'s 3202 row counts 1.00 more from the fund';
  const rec = await result(s001, 'correction.record', {
    target: 'settlement', setl_id: id, action: 'amounts', reason,
    fund: yuan(fen(s.fund) + 100), account: yuan(fen(s.account) - 100), cash: s.cash,
  });
  eq(rec.state, 'recorded', 'correction.record');
  const s002 = await login('s002', 'W02');
  await show(s002, 'work', 'work', false);
  await rowAction(workRow(s002, 'correction_waiting', reason), 'approve', 'checked against 3202');
  const after = await until(async () => {
    const c = (await result(s002, 'correction.list', {})).corrections.find((x) => x.correction_id === rec.correction_id);
    return c.state === 'approved' && c;
  }, 'the correction was not approved');
  eq(after.decided_by, 's002', 'approved by');
  await s002.context().close();
});

test('e. the cashier\'s close-out printed to PDF', async () => {
  const c001 = await login('c001');
  await show(c001, 'closeouts', 'closeouts', false);
  acceptDialogs(c001);
  await c001.locator('[data-action=preview]').click();
  await c001.locator('[data-testid=closeout-preview]').getByText('c001').first().waitFor({ timeout: 10000 })
    .catch(() => { throw new Failure('the close-out preview does not name c001'); });
  await screenshot(c001, 'closeouts');
  await c001.locator('[data-action=record]:enabled').click();
  await c001.locator('#page-closeout').waitFor({ timeout: 10000 })
    .catch(() => { throw new Failure('recording the close-out did not open #page-closeout'); });
  const id = decodeURIComponent(new URL(c001.url()).hash.replace('#/closeout/', ''));
  const co = await result(c001, 'closeout.get', { closeout_id: id });
  eq(co.operator, 'c001', 'the recorded close-out\'s operator');
  await screenshot(c001, 'closeout');
  const sheet = await c001.context().newPage();
  const r = await sheet.goto(`${URL_}/api/sheet/closeout/${co.closeout_id}?paper=A4`);
  eq(r.status(), 200, `/api/sheet/closeout/${co.closeout_id}`);
  const pdf = path.join(screens, 'closeout.pdf');
  await sheet.pdf({ path: pdf, format: 'A4', printBackground: true });
  const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
  for (const want of ['收费员日结单', 'c001', co.settlements.total, co.cash_to_hand_over, co.cash_taken])
    check(text.includes(want), `the close-out PDF lacks "${want}"; its text:\n${text}`);
  await c001.context().close();
});

test('f. XSS: markup in a line name stays text; CSRF: posts without the token or from elsewhere are refused', async () => {
  await show(s001, `settlement/${env.SETL_XSS}`, 'settlement', false);
  const root = s001.locator('#page-settlement');
  await until(async () => (await root.innerText()).includes(env.XSS_NAME),
    `the settlement page does not show the line name "${env.XSS_NAME}" as text`);
  await sleep(300);  // an injected onerror would have fired by now
  eq(await s001.evaluate(() => typeof window.__xss), 'undefined', 'window.__xss');
  eq(await root.locator('img[src="x"]').count(), 0, 'img elements made from the line name');
  await screenshot(s001, 'settlement');

  const adm = await login('adm1');
  const target = 'a001';
  const attempt = { operator: target };
  const none = await api(adm, 'operator.disable', attempt, { token: null });
  eq([none.status, none.body?.error?.reason], [403, 'CSRF'], 'operator.disable without X-CSRF-Token');
  const wrong = await api(adm, 'operator.disable', attempt, { token: 'x'.repeat(43) });
  eq([wrong.status, wrong.body?.error?.reason], [403, 'CSRF'], 'operator.disable with a wrong X-CSRF-Token');
  // A page of another origin posts a form to the console (text/plain shaped as JSON).
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!DOCTYPE html><form method="POST" action="${URL_}/api/call" enctype="text/plain">
<input type="hidden" name='{"method":"operator.disable","params":{"operator":"${target}"},"x":"' value='"}'>
</form><script>document.forms[0].submit()</script>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  try {
    const posted = adm.waitForResponse((r) => r.url() === `${URL_}/api/call`, { timeout: 10000 });
    await adm.goto(`http://127.0.0.1:${evil.address().port}/`);
    eq((await posted).status(), 403, 'a cross-site form post to /api/call');
  } finally {
    evil.close();
  }
  const ops = (await result(adm, 'operator.list')).operators;
  eq(ops.find((o) => o.operator === target)?.disabled, false, `${target} after the refused posts: disabled`);
  await adm.context().close();
});

test('g. lockout after three wrong passwords; the administrator unlocks on #/operators', async () => {
  const page = await newPage();
  await page.goto(`${URL_}/#/login`);
  const statuses = [];
  let last;
  for (let i = 0; i < 3; ++i) {
    last = await submitLogin(page, 'c001', 'Wrong-Pass-0000!');
    statuses.push(last.status());
  }
  eq(statuses, [401, 401, 423], 'HTTP statuses of three wrong passwords');
  const body = await last.json();
  eq(body.error?.reason, 'LOCKED_OUT', 'the third answer\'s reason');
  const shown = await until(async () => {
    const t = await errorText(page);
    return (t.includes('LOCKED_OUT') || t.includes(body.error.message) || /锁定|locked/i.test(t)) && t;
  }, 'the login page does not say the operator is locked (LOCKED_OUT, the daemon\'s words, 锁定 or locked)');
  check(shown.length > 0, 'empty error');
  await screenshot(page, 'login-locked');

  const adm = await login('adm1');
  await show(adm, 'operators', 'operators', false);
  acceptDialogs(adm);
  const unlock = adm.locator('[data-testid=operator-row][data-operator="c001"] [data-action=unlock]');
  await unlock.waitFor({ timeout: 10000 }).catch(() => { throw new Failure('no unlock action for c001 on #/operators'); });
  await screenshot(adm, 'operators');
  await unlock.click();
  await until(async () => (await result(adm, 'operator.list')).operators.find((o) => o.operator === 'c001').locked === false,
    'c001 is still locked after unlock');
  await adm.context().close();

  const r = await submitLogin(page, 'c001', env.PW_c001);
  eq(r.status(), 200, `c001 logging in after the unlock (${await r.text()})`);
  await page.locator('#page-login').waitFor({ state: 'hidden', timeout: 10000 });
  await page.context().close();
});

test('the remaining pages', async () => {
  const a001 = await login('a001');
  const outages = (await result(a001, 'outage.list', {})).outages;
  check(outages.length > 0, 'no outage recorded by the daemon after case b');
  await show(a001, `outage/${outages[0].outage_id}`, 'outage');
  await show(a001, 'audit', 'audit');
  await show(a001, 'recon', 'recon');
  await show(a001, 'password', 'password');
  await a001.context().close();
});

// ---- the runner
const started = Date.now();
let failed = null;
try {
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  for (const c of cases) {
    const t0 = Date.now();
    process.stdout.write(`console_test: ${c.name} ... `);
    try {
      await c.fn();
      console.log(`ok (${Date.now() - t0} ms)`);
    } catch (e) {
      console.log('FAILED');
      failed = { name: c.name, e };
      break;
    }
  }
} catch (e) {
  failed = { name: 'starting the browser', e };
} finally {
  if (browser) await browser.close().catch(() => {});
}
if (failed) {
  console.error(`console_test: FAILED: ${failed.name}\n  ${failed.e instanceof Failure ? failed.e.message : failed.e.stack}`);
  console.error(`console_test: console log ${env.CONSOLE_LOG}, daemon log ${env.SETTLED_LOG}, screens ${screens}`);
  process.exit(1);
}
console.log(`console_test: all ${cases.length} cases passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
