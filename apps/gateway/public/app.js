// The Vigil dashboard: cameras with their latest frame, status and anomaly-score sparkline; the event
// timeline with evidence; the summary feed. Everything comes from the gateway's API with the API key the
// operator gives (kept for this tab only); live changes arrive over GET /events.

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
};
const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

let key = sessionStorage.getItem('vigil-key');
const fromHash = /(?:^#|&)key=([^&]+)/.exec(location.hash);
if (fromHash) {
  key = decodeURIComponent(fromHash[1]);
  sessionStorage.setItem('vigil-key', key);
  history.replaceState(null, '', location.pathname);
}

class Unauthorized extends Error {}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), 'x-api-key': key } });
  if (res.status === 401) throw new Unauthorized((await res.json()).message);
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? res.statusText);
  return res;
}

const cameras = new Map(); // streamId → { spec, card, parts }
const events = new Map(); // eventId → li

function sparkline(points) {
  const w = 300;
  const h = 36;
  const max = Math.max(1.5, ...points.map((p) => p.score));
  const t0 = points[0]?.at ?? 0;
  const t1 = points[points.length - 1]?.at ?? 1;
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * w;
  const y = (s) => h - (s / max) * (h - 2) - 1;
  const svgNs = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.classList.add('spark');
  const thr = document.createElementNS(svgNs, 'line');
  thr.setAttribute('class', 'threshold');
  thr.setAttribute('x1', '0');
  thr.setAttribute('x2', String(w));
  thr.setAttribute('y1', String(y(1)));
  thr.setAttribute('y2', String(y(1)));
  svg.append(thr);
  if (points.length > 1) {
    const path = document.createElementNS(svgNs, 'polyline');
    path.setAttribute('class', 'line');
    path.setAttribute(
      'points',
      points.map((p) => `${x(p.at).toFixed(1)},${y(p.score).toFixed(1)}`).join(' '),
    );
    svg.append(path);
  }
  return svg;
}

function statusBadge(status) {
  const health = status?.health ?? 'unknown';
  return el('span', { class: `badge ${health}`, 'data-health': health }, health);
}

function renderCamera(spec) {
  let cam = cameras.get(spec.id);
  if (!cam) {
    const parts = {
      img: el('img', { class: 'frame', alt: `latest frame of ${spec.id}` }),
      boxes: el('div', { class: 'boxes', 'aria-label': `tracked objects of ${spec.id}` }),
      title: el('strong'),
      badge: el('span'),
      meta: el('div', { class: 'meta' }),
      spark: el('div', {
        class: 'sparkwrap',
        title: 'anomaly score, last 10 minutes (dashed: alarm threshold)',
      }),
    };
    const card = el(
      'article',
      { class: 'card', 'data-stream-id': spec.id },
      el('div', { class: 'framewrap' }, parts.img, parts.boxes),
      el(
        'div',
        { class: 'body' },
        el('div', { class: 'title' }, parts.title, parts.badge),
        parts.meta,
        parts.spark,
        el(
          'div',
          { class: 'actions' },
          el('button', { type: 'button', onclick: () => openLive(spec.id) }, 'Live'),
          el('button', { type: 'button', onclick: () => summarize(spec.id) }, 'Summarize now'),
        ),
      ),
    );
    cam = { spec, card, parts, frameUrl: null };
    cameras.set(spec.id, cam);
    $('#grid').append(card);
  }
  cam.spec = spec;
  if (spec.analyzed) cam.analyzed = spec.analyzed;
  cam.parts.title.textContent = spec.name ?? spec.id;
  setStatus(spec.id, spec.status);
}

function setStatus(id, status) {
  const cam = cameras.get(id);
  if (!cam) return;
  cam.status = status;
  cam.parts.badge.replaceChildren(statusBadge(status));
  renderMeta(cam);
}

/**
 * What the camera sends and what of it is analyzed: ingest's rate beside the analyzer's (so frames the
 * analyzer sheds show), drops and restarts when there are any, and an error only while it is the state.
 */
function renderMeta(cam) {
  const status = cam.status;
  if (!status) {
    cam.parts.meta.textContent = 'no status yet';
    return;
  }
  const parts = [status.state, `${status.fpsOut.toFixed(1)} fps sent`];
  const analyzed = cam.analyzed;
  if (analyzed) {
    parts.push(`${analyzed.fps.toFixed(1)} analyzed`);
    const shed = status.fpsOut > 0 ? 1 - analyzed.fps / status.fpsOut : 0;
    if (status.state === 'running' && shed > 0.2)
      parts.push(`${Math.round(shed * 100)} % dropped by the analyzer`);
  }
  if (status.drops) parts.push(`${status.drops} dropped at ingest`);
  if (status.restarts) parts.push(`${status.restarts} restarts`);
  if (status.lastError && status.state !== 'running') parts.push(status.lastError);
  cam.parts.meta.textContent = parts.join(' · ');
  cam.parts.meta.dataset.analyzedFps = analyzed ? String(analyzed.fps) : '';
}

async function refreshAnalyzed() {
  const { items } = await (await api('/api/streams')).json();
  for (const s of items) {
    const cam = cameras.get(s.id);
    if (!cam) continue;
    cam.analyzed = s.analyzed;
    renderMeta(cam);
  }
}

/**
 * Each camera's picture with its boxes: the tracked objects of the newest scored sample, drawn on the frame
 * they were found in (fetched by its capture time), not on a newer one beside which they would sit. Before
 * there are objects (or when that frame is gone), the newest frame alone.
 */
async function refreshFrames() {
  for (const cam of cameras.values()) {
    try {
      const objects = await (await api(`/api/streams/${cam.spec.id}/objects`)).json();
      let res = null;
      if (objects.capturedAt) {
        res = await api(
          `/api/streams/${cam.spec.id}/frame.jpg?at=${encodeURIComponent(objects.capturedAt)}`,
        ).catch((err) => {
          if (err instanceof Unauthorized) throw err;
          return null;
        });
      }
      const matched = res !== null;
      if (!res) res = await api(`/api/streams/${cam.spec.id}/frame.jpg`);
      const url = URL.createObjectURL(await res.blob());
      cam.parts.img.src = url;
      cam.parts.img.dataset.loaded = 'true';
      cam.parts.img.dataset.capturedAt = res.headers.get('x-captured-at') ?? '';
      if (cam.frameUrl) URL.revokeObjectURL(cam.frameUrl);
      cam.frameUrl = url;
      drawObjects(cam, matched ? objects.items : [], matched ? objects.capturedAt : '');
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
    }
  }
}

/**
 * The tracked objects as boxes over the frame (positions in % of it), each with its class and track id;
 * a label that would cover another is moved below the one before it.
 */
function drawObjects(cam, items, capturedAt) {
  const img = cam.parts.img;
  // the frame is shown whole at its own shape, so the boxes' fractions are fractions of what is seen
  if (img.naturalWidth) img.parentElement.style.aspectRatio = `${img.naturalWidth} / ${img.naturalHeight}`;
  const pct = (v) => `${(v * 100).toFixed(2)}%`;
  // labels sit above their box; one that would overlap an earlier one (by its top-left) goes inside instead
  const placed = [];
  const sorted = [...items].sort((a, b) => a.box.y - b.box.y || a.box.x - b.box.x);
  cam.parts.boxes.replaceChildren(
    ...sorted.map((o) => {
      const clash = placed.some((p) => Math.abs(p.x - o.box.x) < 0.12 && Math.abs(p.y - o.box.y) < 0.05);
      placed.push({ x: o.box.x, y: o.box.y });
      return el(
        'div',
        {
          class: `box ${o.label === 'person' ? 'person' : 'thing'}${clash ? ' inside' : ''}`,
          'data-track-id': o.trackId,
          'data-label': o.label,
          title: `${o.label} #${o.trackId}, score ${o.score.toFixed(2)}, seen ${o.dwellS.toFixed(0)} s`,
          style: `left:${pct(o.box.x)};top:${pct(o.box.y)};width:${pct(o.box.w)};height:${pct(o.box.h)}`,
        },
        el('span', {}, `${o.label} #${o.trackId}`),
      );
    }),
  );
  cam.parts.boxes.dataset.count = String(items.length);
  // the sample the boxes were found in: the frame under them is the one captured then
  cam.parts.boxes.dataset.capturedAt = capturedAt;
}

async function refreshScores() {
  for (const cam of cameras.values()) {
    try {
      const { items } = await (await api(`/api/streams/${cam.spec.id}/scores`)).json();
      cam.parts.spark.replaceChildren(sparkline(items));
      cam.parts.spark.dataset.points = String(items.length);
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
    }
  }
}

async function evidenceImg(a) {
  const img = el('img', { alt: `evidence of ${a.kind}` });
  if (a.evidenceUrl)
    api(a.evidenceUrl)
      .then((r) => r.blob())
      .then((b) => (img.src = URL.createObjectURL(b)))
      .catch(() => undefined);
  return img;
}

async function renderEvent(a, prepend) {
  const li = el(
    'li',
    { 'data-event-id': a.eventId, 'data-kind': a.kind, 'data-phase': a.phase },
    await evidenceImg(a),
    el(
      'div',
      { class: 'what' },
      el(
        'div',
        {},
        el('span', { class: `badge ${a.severity}` }, a.severity),
        ' ',
        el('strong', {}, a.kind.replace('_', ' ')),
        ` on ${cameras.get(a.streamId)?.spec.name ?? a.streamId}`,
      ),
      el('div', { class: 'text' }, a.description),
      el(
        'div',
        { class: 'when' },
        `${time(a.startedAt)}${a.endedAt ? `–${time(a.endedAt)}` : ' · ongoing'} · peak ${a.peakScore.toFixed(2)}` +
          (a.finding ? ` · confirmed by ${a.finding.decoder}` : ''),
      ),
    ),
  );
  const old = events.get(a.eventId);
  if (old) old.replaceWith(li);
  else if (prepend) $('#events').prepend(li);
  else $('#events').append(li);
  events.set(a.eventId, li);
  const cam = cameras.get(a.streamId);
  if (cam) cam.card.classList.toggle('alert', a.phase !== 'end');
}

function renderSummary(s, prepend) {
  const li = el(
    'li',
    { 'data-summary-id': s.summaryId, 'data-level': s.level },
    el(
      'div',
      { class: 'what' },
      el(
        'div',
        { class: 'when' },
        `${s.level} · ${time(s.windowStart)}–${time(s.windowEnd)} · ${s.decoder.type}${s.decoder.fallback ? ' (fallback)' : ''}`,
      ),
      el('div', { class: 'text' }, s.text),
    ),
  );
  if (prepend) $('#summaries').prepend(li);
  else $('#summaries').append(li);
  while ($('#summaries').children.length > 60) $('#summaries').lastElementChild.remove();
}

async function summarize(id) {
  try {
    await api(`/api/streams/${id}/summarize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'asked from the dashboard' }),
    });
  } catch (err) {
    alert(`Could not ask for a summary: ${err.message}`);
  }
}

/** GET /events read with fetch (EventSource cannot send the key header); reconnects after a drop. */
async function follow() {
  for (;;) {
    try {
      const res = await api('/events');
      $('#conn').textContent = 'live';
      $('#conn').className = 'badge on';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) await onEvent(type, JSON.parse(data));
        }
      }
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(err.message);
    }
    $('#conn').textContent = 'reconnecting';
    $('#conn').className = 'badge off';
    await new Promise((r) => setTimeout(r, 3000));
  }
}

async function onEvent(type, data) {
  if (type === 'anomaly') await renderEvent(data, true);
  else if (type === 'summary' && data.level === 'window') renderSummary(data, true);
  else if (type === 'summary') renderSummary(data, true);
  else if (type === 'status') setStatus(data.streamId, data);
  else if (type === 'stream') {
    if (data.deleted) {
      cameras.get(data.streamId)?.card.remove();
      cameras.delete(data.streamId);
    } else renderCamera({ ...data, status: null });
  }
}

let player = null;
async function openLive(id) {
  const dialog = $('#live');
  $('#live-title').textContent = `Live: ${cameras.get(id)?.spec.name ?? id}`;
  $('#live-note').textContent = 'connecting…';
  dialog.showModal();
  try {
    const { path } = await (await api(`/api/streams/${id}/live`)).json();
    if (!window.JSMpeg) throw new Error('the JSMpeg player did not load');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    player = new window.JSMpeg.Player(`${proto}//${location.host}${path}`, {
      canvas: $('#live-canvas'),
      audio: false,
      onPlay: () => ($('#live-note').textContent = 'live (MPEG-1 re-encode, a second or two behind)'),
    });
  } catch (err) {
    $('#live-note').textContent = `no live view: ${err.message}`;
  }
}
$('#live-close').addEventListener('click', () => $('#live').close());
$('#live').addEventListener('close', () => {
  player?.destroy();
  player = null;
});

/** A search hit: its picture when it has one, what it is, where and when, how near, and its text. */
async function renderHit(h, cited) {
  const what = h.type === 'summary' ? `${h.level} summary` : (h.kind ?? 'event').replace('_', ' ');
  return el(
    'li',
    {
      'data-hit-id': h.id,
      'data-type': h.type,
      'data-kind': h.kind,
      'data-stream-id': h.streamId,
      class: cited ? 'cited' : undefined,
    },
    h.evidenceUrl
      ? await evidenceImg({ kind: what, evidenceUrl: h.evidenceUrl })
      : el('span', { class: 'noimg' }),
    el(
      'div',
      { class: 'what' },
      el(
        'div',
        {},
        el('strong', {}, what),
        ` on ${cameras.get(h.streamId)?.spec.name ?? h.streamId}`,
        el('span', { class: 'score', title: 'similarity to the question' }, h.score.toFixed(2)),
      ),
      el('div', { class: 'text' }, h.text),
      el('div', { class: 'when' }, new Date(h.at).toLocaleString([], { hour12: false })),
    ),
  );
}

/** Search (GET /api/search) or Ask (POST /api/ask): the answer, then the hits, cited ones marked. */
async function searchOrAsk(q, mode) {
  const answer = $('#answer');
  const list = $('#results');
  answer.hidden = false;
  answer.className = 'answer';
  answer.textContent = mode === 'ask' ? 'asking…' : 'searching…';
  try {
    let hits;
    let cited = new Set();
    if (mode === 'ask') {
      const a = await (
        await api('/api/ask', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ question: q }),
        })
      ).json();
      hits = a.hits;
      cited = new Set(a.cited);
      answer.textContent =
        a.answeredBy === 'model'
          ? a.answer
          : `${a.fallback ? `The answer model failed (${a.fallback}). ` : ''}No answer model is set up (VIGIL_ASK_URL): the closest records, best first.`;
      answer.dataset.answeredBy = a.answeredBy;
    } else {
      const r = await (await api(`/api/search?q=${encodeURIComponent(q)}&limit=10`)).json();
      hits = r.hits;
      answer.textContent = `${hits.length} closest of ${r.indexed} summaries and events${r.pending ? ` (${r.pending} still being indexed)` : ''}`;
      delete answer.dataset.answeredBy;
    }
    list.replaceChildren(...(await Promise.all(hits.map((h) => renderHit(h, cited.has(h.id))))));
    list.hidden = hits.length === 0;
    list.dataset.mode = mode;
  } catch (err) {
    if (err instanceof Unauthorized) return showLogin(err.message);
    answer.className = 'answer error';
    answer.textContent = err.message;
    list.hidden = true;
  }
}

$('#search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = $('#q').value.trim();
  if (q) searchOrAsk(q, e.submitter?.value === 'ask' ? 'ask' : 'search');
});

function showLogin(message) {
  $('#main').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message ?? '';
}

$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  key = $('#key').value.trim();
  sessionStorage.setItem('vigil-key', key);
  start();
});

async function start() {
  if (!key) return showLogin();
  try {
    const { items } = await (await api('/api/streams')).json();
    $('#login').hidden = true;
    $('#main').hidden = false;
    for (const spec of items) renderCamera(spec);
    if (items.length === 0)
      $('#grid').append(el('p', { class: 'empty' }, 'No cameras yet: POST /api/streams.'));
    const anomalies = await (await api('/api/anomalies?limit=50')).json();
    for (const a of anomalies.items) await renderEvent(a, false);
    const summaries = await (await api('/api/summaries?limit=30')).json();
    for (const s of summaries.items) renderSummary(s, false);
    follow();
    const tick = async () => {
      try {
        await refreshFrames();
        await refreshScores();
        await refreshAnalyzed();
      } catch (err) {
        if (err instanceof Unauthorized) return showLogin(err.message);
      }
      setTimeout(tick, 3000);
    };
    tick();
  } catch (err) {
    showLogin(err instanceof Unauthorized ? err.message : `cannot reach the gateway: ${err.message}`);
  }
}

start();
