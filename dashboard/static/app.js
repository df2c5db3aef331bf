// hlsfleet dashboard: one EventSource, DOM updated in place, no framework.
'use strict';

const $ = (s) => document.querySelector(s);
const state = { info: {}, jobs: new Map(), dead: [], streams: [], stats: null };
let hls = null; // the hls.js instance, when the browser lacks native HLS
let hlsLoad = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function fmtBytes(n) {
  if (!n) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}
function fmtTime(t) { return t ? new Date(t).toLocaleString() : ''; }
// mediaURL is the URL of name (slash-separated, relative to the output) in
// the output at path.
function mediaURL(path, name) {
  const enc = (p) => p.split('/').map(encodeURIComponent).join('/');
  return '/media/' + enc(path) + '/' + enc(name);
}
function jobName(j) {
  if (j.path) return j.path;
  const s = j.output || j.source || j.id;
  return s.replace(/\/+$/, '').split('/').pop();
}

// ---- events ----
function connect() {
  const es = new EventSource('/api/events');
  const conn = $('#conn');
  es.onopen = () => { conn.textContent = 'live'; conn.dataset.state = 'live'; };
  es.onerror = () => { conn.textContent = 'reconnecting…'; conn.dataset.state = 'down'; };
  es.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    state.info = s.info;
    state.jobs = new Map(s.jobs.map((j) => [j.id, j]));
    state.dead = s.dead_letters; state.dlqError = s.dlq_error || '';
    state.streams = s.streams; state.stats = s.stats || null;
    $('#jobs tbody').replaceChildren();
    for (const j of [...state.jobs.values()].reverse()) renderJob(j);
    renderInfo(); renderDead(); renderStreams(); renderStats();
  });
  es.addEventListener('job', (e) => { const j = JSON.parse(e.data); state.jobs.set(j.id, j); renderJob(j); });
  es.addEventListener('dlq', (e) => {
    const d = JSON.parse(e.data); state.dead = d.dead_letters; state.dlqError = d.error || ''; renderDead();
  });
  es.addEventListener('streams', (e) => { state.streams = JSON.parse(e.data); renderStreams(); });
  es.addEventListener('stats', (e) => { state.stats = JSON.parse(e.data); renderStats(); });
}

function renderInfo() {
  $('#drop').hidden = !state.info.uploads;
  $('#dlq-box').hidden = !state.info.dlq;
}

function renderStats() {
  const s = state.stats;
  if (!s) { $('#stats').textContent = ''; return; }
  let t = `queue: ${s.visible} waiting · ${s.in_flight} in flight · ${s.delayed} delayed`;
  if (state.info.dlq) t += ` · ${s.dead_letters} dead`;
  if (s.oldest_age_seconds > 0) t += ` · oldest ${Math.round(s.oldest_age_seconds)} s`;
  if (s.error) t += ` · ${s.error}`;
  $('#stats').textContent = t;
}

// ---- jobs ----
function renderJob(j) {
  const tbody = $('#jobs tbody');
  let tr = tbody.querySelector(`tr[data-job-id="${CSS.escape(j.id)}"]`);
  if (!tr) {
    tr = el('tr', { 'data-job-id': j.id },
      el('td', { class: 'name' }),
      el('td', {}, el('span', { class: 'state' })),
      el('td', { class: 'prog' }, el('progress', { max: '100', value: '0' }), el('span', { class: 'pct' })),
      el('td', { class: 'details' }),
      el('td', { class: 'actions' }));
    tbody.prepend(tr);
  }
  tr.dataset.state = j.state;
  const [name, st, prog, details, actions] = tr.children;
  name.textContent = jobName(j);
  name.title = `job ${j.id}\nsource ${j.source || ''}\noutput ${j.output || ''}`;
  const badge = st.firstChild;
  badge.className = 'state ' + j.state;
  badge.textContent = j.state + (j.attempt > 1 ? ` (attempt ${j.attempt})` : '');
  const pct = Math.max(0, Math.min(100, j.state === 'published' ? 100 : j.progress || 0));
  const bar = prog.querySelector('progress');
  if (bar.getAttribute('value') !== String(pct)) bar.setAttribute('value', String(pct));
  prog.querySelector('.pct').textContent = Math.round(pct) + '%';

  details.replaceChildren();
  if (j.state === 'failed' || j.state === 'retrying') {
    const why = el('div', { class: 'reason' }, j.error || j.reason || 'failed');
    details.append(why);
    if (j.state === 'retrying' && j.retry_at) details.append(el('div', { class: 'muted' }, 'next try ' + fmtTime(j.retry_at)));
    if (j.chunks) details.append(el('div', { class: 'muted chunks' }, j.chunks.text));
  } else if (j.state === 'published') {
    const bits = [];
    if (j.renditions) bits.push(`${j.renditions} renditions`);
    if (j.duration_seconds) bits.push(`${j.duration_seconds.toFixed(1)} s`);
    if (j.speed) bits.push(`${j.speed.toFixed(1)}× realtime`);
    if (j.bytes_out) bits.push(fmtBytes(j.bytes_out));
    if (j.chunks) bits.push(`${j.chunks.total} chunks`);
    details.append(el('div', { class: 'muted' }, bits.join(' · ')));
    const q = qualitySummary(j.quality);
    if (q) details.append(el('div', { class: 'muted quality' }, q));
  } else if (j.chunks) {
    // A chunked job is one row; its chunks run on many workers.
    details.append(el('div', { class: 'muted chunks' }, j.chunks.text));
  } else if (j.worker) {
    details.append(el('div', { class: 'muted' }, 'on ' + j.worker));
  }
  actions.replaceChildren();
  if (j.state === 'published' && j.path) {
    actions.append(el('button', { class: 'play', onclick: () => play(jobName(j), j.path, j) }, 'Play'));
  }
  $('#jobs-empty').hidden = state.jobs.size > 0;
}

// qualitySummary shows the lowest SSIM and PSNR of a quality report of any
// of the shapes a report may take (a list of renditions, or a map of them).
function qualitySummary(q) {
  if (!q) return '';
  const rows = Array.isArray(q) ? q : (Array.isArray(q.renditions) ? q.renditions : Object.values(q));
  let ssim = Infinity, psnr = Infinity;
  for (const r of rows) {
    if (r && typeof r === 'object') {
      if (typeof r.ssim === 'number') ssim = Math.min(ssim, r.ssim);
      if (typeof r.psnr_db === 'number') psnr = Math.min(psnr, r.psnr_db);
    }
  }
  const out = [];
  if (ssim !== Infinity) out.push(`SSIM ≥ ${ssim.toFixed(3)}`);
  if (psnr !== Infinity) out.push(`PSNR ≥ ${psnr.toFixed(1)} dB`);
  return out.join(' · ');
}

function renderQuality(q) {
  const box = $('#quality');
  box.replaceChildren();
  if (!q) return;
  const rows = Array.isArray(q) ? q : (Array.isArray(q.renditions) ? q.renditions
    : Object.entries(q).map(([k, v]) => (v && typeof v === 'object' ? { rendition: k, ...v } : { [k]: v })));
  const keys = [...new Set(rows.flatMap((r) => (r && typeof r === 'object' ? Object.keys(r) : [])))]
    .filter((k) => rows.every((r) => !r || typeof r[k] !== 'object'));
  if (!keys.length) return;
  const t = el('table', {}, el('thead', {}, el('tr', {}, ...keys.map((k) => el('th', {}, k)))));
  const tb = el('tbody');
  for (const r of rows) {
    tb.append(el('tr', {}, ...keys.map((k) => {
      const v = r ? r[k] : '';
      return el('td', {}, typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v ?? ''));
    })));
  }
  t.append(tb);
  box.append(el('h3', {}, 'Quality'), t);
}

// ---- player ----
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!state.info.hlsjs) return Promise.resolve(null);
  if (!hlsLoad) {
    hlsLoad = new Promise((resolve) => {
      const s = el('script', { src: '/static/vendor/hls.min.js' });
      s.onload = () => resolve(window.Hls || null);
      s.onerror = () => resolve(null);
      document.head.append(s);
    });
  }
  return hlsLoad;
}

async function play(title, path, j) {
  const box = $('#player-box');
  const v = $('#player');
  const status = $('#player-status');
  box.hidden = false;
  $('#player-title').textContent = title;
  if (hls) { hls.destroy(); hls = null; }
  v.removeAttribute('src');
  v.dataset.engine = '';
  // Extras are named by job.json (a fleet output keeps them in the
  // publishing attempt's folder).
  v.poster = j && j.poster ? mediaURL(path, j.poster) : '';
  status.textContent = '';
  status.className = '';
  const url = mediaURL(path, 'master.m3u8');
  if (v.canPlayType('application/vnd.apple.mpegurl')) {
    v.dataset.engine = 'native';
    v.src = url;
  } else {
    const Hls = await loadHlsJs();
    if (Hls && Hls.isSupported()) {
      v.dataset.engine = 'hls.js';
      hls = new Hls();
      hls.on(Hls.Events.ERROR, (_, d) => {
        if (d.fatal) { status.textContent = `playback error: ${d.type} ${d.details}`; status.className = 'error'; }
      });
      hls.loadSource(url);
      hls.attachMedia(v);
    } else {
      status.textContent = 'This browser cannot play HLS, and hls.js is not built in (run scripts/setup.sh and rebuild). The master playlist is at ' + url;
      status.className = 'error';
      return;
    }
  }
  status.textContent = `playing with ${v.dataset.engine === 'native' ? "the browser's HLS" : 'hls.js'}: ${url}`;
  v.play().catch(() => {});
  box.scrollIntoView({ behavior: 'smooth', block: 'start' });
  renderQuality(j && j.quality);
  const dl = $('#downloads');
  dl.replaceChildren();
  if (j && j.mp4 && j.mp4.length) {
    dl.append('Download: ');
    for (const m of j.mp4) {
      const base = m.split('/').pop();
      dl.append(el('a', { href: mediaURL(path, m), download: base }, base), ' ');
    }
  }
  renderStoryboard(j && j.storyboard ? mediaURL(path, j.storyboard) : null);
}

$('#player') && $('#player').addEventListener('error', () => {
  const v = $('#player');
  if (!v.error) return;
  const st = $('#player-status');
  st.textContent = `media error ${v.error.code}${v.error.message ? ': ' + v.error.message : ''}`;
  st.className = 'error';
});

// renderStoryboard shows up to 12 evenly spaced storyboard tiles; a click seeks.
async function renderStoryboard(vtt) {
  const box = $('#storyboard');
  box.replaceChildren();
  if (!vtt) return;
  let text;
  try {
    const r = await fetch(vtt);
    if (!r.ok) return;
    text = await r.text();
  } catch { return; }
  const base = new URL(vtt, location.href);
  const cues = [];
  const ts = (s) => s.split(':').reduce((a, p) => a * 60 + parseFloat(p), 0);
  for (const block of text.split(/\r?\n\r?\n/)) {
    const lines = block.split(/\r?\n/).filter(Boolean);
    const i = lines.findIndex((l) => l.includes('-->'));
    if (i < 0 || !lines[i + 1]) continue;
    const [a] = lines[i].split('-->').map((s) => s.trim());
    const m = lines[i + 1].match(/^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/);
    if (!m) continue;
    cues.push({ t: ts(a), url: new URL(m[1], base).href, x: +m[2], y: +m[3], w: +m[4], h: +m[5] });
  }
  const step = Math.max(1, Math.ceil(cues.length / 12));
  for (let i = 0; i < cues.length; i += step) {
    const c = cues[i];
    const tile = el('div', { class: 'tile', title: `${c.t.toFixed(1)} s` }, el('span', {}, `${c.t.toFixed(0)} s`));
    tile.style.width = c.w + 'px';
    tile.style.height = c.h + 'px';
    tile.style.backgroundImage = `url("${c.url}")`;
    tile.style.backgroundPosition = `-${c.x}px -${c.y}px`;
    tile.addEventListener('click', () => { $('#player').currentTime = c.t; });
    box.append(tile);
  }
}

// ---- dead letters ----
function renderDead() {
  if (!state.info.dlq) return;
  const tbody = $('#dlq tbody');
  tbody.replaceChildren();
  $('#dlq-error').textContent = state.dlqError || '';
  for (const d of state.dead) {
    const btn = el('button', { class: 'retry' }, 'Retry');
    const msg = el('span', { class: 'error' });
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      msg.textContent = '';
      try {
        const r = await fetch('/api/dlq/retry?id=' + encodeURIComponent(d.id), { method: 'POST' });
        if (!r.ok) { msg.textContent = (await r.json().catch(() => ({}))).error || `HTTP ${r.status}`; btn.disabled = false; }
      } catch (e) { msg.textContent = String(e); btn.disabled = false; }
    });
    const job = d.job_id ? jobName({ id: d.job_id, output: d.output, source: d.source }) : (d.body || '(not a job)');
    tbody.append(el('tr', { 'data-message-id': d.id, 'data-job-id': d.job_id || '' },
      el('td', { class: 'name', title: d.id }, d.id.length > 12 ? d.id.slice(0, 12) + '…' : d.id),
      el('td', { class: 'name', title: d.job_id ? `job ${d.job_id}\nsource ${d.source}\noutput ${d.output}` : '' }, job),
      el('td', { class: 'reason' }, d.reason),
      el('td', { class: 'when' }, fmtTime(d.at)),
      el('td', {}, btn, msg)));
  }
  $('#dlq-empty').hidden = state.dead.length > 0;
}

// ---- live streams ----
function renderStreams() {
  $('#live-box').hidden = state.streams.length === 0;
  const tbody = $('#streams tbody');
  tbody.replaceChildren();
  for (const s of state.streams) {
    tbody.append(el('tr', { 'data-stream': s.name },
      el('td', { class: 'name' }, s.name),
      el('td', { class: 'latency' }, s.newest_segment_at && !s.ended ? `${s.latency_seconds.toFixed(1)} s` : '–'),
      el('td', {}, String(s.segments)),
      el('td', {}, s.ended ? 'ended' : 'live'),
      el('td', {}, el('button', { onclick: () => play('live: ' + s.name, s.path, null) }, 'Play'))));
  }
}

// ---- uploads ----
function upload(file) {
  const li = el('li', {}, file.name + ': ');
  const st = el('span', {}, 'uploading…');
  li.append(st);
  $('#uploads').prepend(li);
  if (state.info.max_upload && file.size > state.info.max_upload) {
    st.textContent = `too large (${fmtBytes(file.size)}; the limit is ${fmtBytes(state.info.max_upload)})`;
    st.className = 'error';
    return;
  }
  const xhr = new XMLHttpRequest();
  xhr.open('POST', '/api/upload?name=' + encodeURIComponent(file.name));
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) st.textContent = `uploading ${Math.round(100 * e.loaded / e.total)}%`; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch {}
    if (xhr.status === 201) { st.textContent = `queued as job ${body.job_id}`; st.className = 'muted'; li.dataset.jobId = body.job_id; }
    else { st.textContent = body.error || `upload failed (HTTP ${xhr.status})`; st.className = 'error'; }
  };
  xhr.onerror = () => { st.textContent = 'upload failed: the connection broke'; st.className = 'error'; };
  xhr.send(file);
}

function setupDrop() {
  const zone = $('#drop');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    for (const f of e.dataTransfer.files) upload(f);
  });
  $('#file').addEventListener('change', (e) => { for (const f of e.target.files) upload(f); e.target.value = ''; });
}

setupDrop();
connect();
