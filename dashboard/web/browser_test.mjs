// Browser test of the hlsfleet dashboard: Debian's chromium driven by
// playwright-core (never a downloaded browser). Run by
// cmd/hlsfleet/dashboard_browser_test.go against a running `hlsfleet local`:
//   HLSFLEET_URL   the dashboard (http://127.0.0.1:PORT/)
//   HLSFLEET_DATA  the local data directory (sources/ holds the uploads)
//   GOOD_MEDIA     a short valid clip;  BAD_MEDIA  a truncated copy of it
//   CHROMIUM       the browser (default /usr/bin/chromium)
// Prints "ok - ..." per check; exits 1 with the reason on the first failure.
import { chromium } from 'playwright-core';
import { readFileSync, copyFileSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

const base = process.env.HLSFLEET_URL;
const data = process.env.HLSFLEET_DATA;
const good = process.env.GOOD_MEDIA;
const bad = process.env.BAD_MEDIA;
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
if (!base || !data || !good || !bad) {
  console.error('browser_test: set HLSFLEET_URL, HLSFLEET_DATA, GOOD_MEDIA and BAD_MEDIA');
  process.exit(2);
}

const ok = (msg) => console.log('ok - ' + msg);
function fail(msg) { throw new Error(msg); }

const browser = await chromium.launch({
  executablePath: exe,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
const logs = [];
try {
  const page = await browser.newPage();
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(30000);
  let requests = 0;
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/events') requests++; });

  await page.goto(base);
  await page.waitForSelector('#conn[data-state="live"]');
  await page.waitForSelector('#drop:not([hidden])');
  ok('dashboard loaded and its event stream is live');

  // Record every value each job's progress bar takes (no sampling races).
  // Each progress value is rendered in its own task (one SSE message each),
  // and the observer also keeps every attribute's old value, so no value is
  // lost even if records were batched.
  await page.evaluate(() => {
    window.__progress = {};
    const push = (tr, v) => (window.__progress[tr.dataset.jobId] ||= []).push(v);
    new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.type === 'attributes' && m.target.matches('progress')) {
          const tr = m.target.closest('tr[data-job-id]');
          if (m.oldValue !== null) push(tr, Number(m.oldValue));
          push(tr, Number(m.target.getAttribute('value')));
        }
        for (const n of m.addedNodes || []) {
          if (n.matches && n.matches('tr[data-job-id]')) push(n, Number(n.querySelector('progress').getAttribute('value')));
        }
      }
    }).observe(document.querySelector('#jobs tbody'), { subtree: true, childList: true, attributes: true, attributeOldValue: true, attributeFilter: ['value'] });
  });

  // 1. Drop a file on the drop zone.
  const bytes = readFileSync(good).toString('base64');
  await page.evaluate(async ([b64, name]) => {
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bin], name, { type: 'video/mp4' }));
    const zone = document.querySelector('#drop');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [bytes, basename(good)]);
  const goodLi = await page.waitForSelector('#uploads li[data-job-id]');
  const goodID = await goodLi.getAttribute('data-job-id');
  ok(`dropped ${basename(good)}: job ${goodID}`);
  await page.waitForSelector(`#jobs tr[data-job-id="${goodID}"]`);
  ok('the job appears in the list');
  await page.waitForSelector(`#jobs tr[data-job-id="${goodID}"][data-state="published"]`, { timeout: 180000 });
  const seen = await page.evaluate((id) => window.__progress[id] || [], goodID);
  // Consecutive duplicates come from old values recorded next to new ones.
  const vals = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
  const mid = vals.filter((v) => v > 0 && v < 100);
  if (!mid.length) fail(`the progress bar never showed a value between 0 and 100: ${JSON.stringify(seen)}`);
  for (let i = 1; i < vals.length; i++) if (vals[i] < vals[i - 1]) fail(`the progress bar went back: ${JSON.stringify(seen)}`);
  if (vals[vals.length - 1] !== 100) fail(`the progress bar did not end at 100: ${JSON.stringify(seen)}`);
  ok(`the progress bar advanced ${JSON.stringify([...new Set(vals)])} and the job is published`);

  // 2. Play the result.
  await page.click(`#jobs tr[data-job-id="${goodID}"] button.play`);
  const play = await page.waitForFunction(() => {
    const v = document.querySelector('#player');
    if (v.error) return { error: `media error ${v.error.code}: ${v.error.message}` };
    const st = document.querySelector('#player-status');
    if (st.className === 'error') return { error: st.textContent };
    return v.currentTime > 1.5 ? { t: v.currentTime, engine: v.dataset.engine, w: v.videoWidth } : false;
  }, null, { timeout: 60000 });
  const res = await play.jsonValue();
  if (res.error) fail('the player failed: ' + res.error);
  if (!res.w) fail('the player shows no video frames (videoWidth 0)');
  ok(`the player plays the output (${res.engine}, currentTime ${res.t.toFixed(2)} s, ${res.w} px wide, no media error)`);

  // 2b. The same output through the embedded hls.js, as in a browser
  // without native HLS (canPlayType says no).
  const info = await (await page.request.get(new URL('/api/state', base).href)).json();
  if (info.info.hlsjs) {
    const p2 = await browser.newPage();
    p2.on('pageerror', (e) => logs.push(`pageerror (hls.js page): ${e.message}`));
    await p2.addInitScript(() => {
      const orig = HTMLMediaElement.prototype.canPlayType;
      HTMLMediaElement.prototype.canPlayType = function (t) { return /mpegurl/i.test(t) ? '' : orig.call(this, t); };
    });
    await p2.goto(base);
    await p2.waitForSelector(`#jobs tr[data-job-id="${goodID}"] button.play`);
    await p2.click(`#jobs tr[data-job-id="${goodID}"] button.play`);
    const r2 = await (await p2.waitForFunction(() => {
      const v = document.querySelector('#player');
      if (v.error) return { error: `media error ${v.error.code}: ${v.error.message}` };
      const st = document.querySelector('#player-status');
      if (st.className === 'error') return { error: st.textContent };
      return v.currentTime > 1.5 ? { t: v.currentTime, engine: v.dataset.engine } : false;
    }, null, { timeout: 60000 })).jsonValue();
    if (r2.error) fail('hls.js playback failed: ' + r2.error);
    if (r2.engine !== 'hls.js') fail(`engine ${r2.engine}, want hls.js`);
    ok(`hls.js plays the output too (currentTime ${r2.t.toFixed(2)} s)`);
    await p2.close();
  } else if (process.env.REQUIRE_HLSJS) {
    fail('hls.js is not embedded in this build (run scripts/setup.sh before building)');
  } else {
    console.log('skip - hls.js is not embedded in this build; only native HLS was checked');
  }

  // 2c. The extras the transcode wrote into the output (quality report in
  // job.json, the storyboard and its sprites) show up: the quality figures in
  // the row, the storyboard strip and the quality table under the player.
  const goodPath = info.jobs.find((j) => j.id === goodID).path;
  const outDir = join(data, 'out', goodPath);
  const doc = JSON.parse(readFileSync(join(outDir, 'job.json'), 'utf8'));
  if (!Array.isArray(doc.quality) || doc.quality.length === 0) fail('job.json has no quality report');
  const minSSIM = Math.min(...doc.quality.map((r) => r.ssim)).toFixed(3);
  const minPSNR = Math.min(...doc.quality.map((r) => r.psnr_db)).toFixed(1);
  // job.json names the storyboard (in the publishing attempt's folder).
  if (!doc.storyboard) fail('job.json names no storyboard');
  const cues = readFileSync(join(outDir, doc.storyboard), 'utf8').split('\n').filter((l) => l.includes('#xywh=')).length;
  if (cues === 0) fail(`${doc.storyboard} has no cues`);
  const q = await page.waitForSelector(`#jobs tr[data-job-id="${goodID}"] .quality`, { timeout: 20000 });
  const qText = await q.textContent();
  if (!qText.includes(`SSIM ≥ ${minSSIM}`) || !qText.includes(`PSNR ≥ ${minPSNR} dB`)) {
    fail(`quality summary: ${qText}, want SSIM ≥ ${minSSIM} and PSNR ≥ ${minPSNR} dB`);
  }
  ok('the quality report of job.json shows in the row: ' + qText);
  await page.click(`#jobs tr[data-job-id="${goodID}"] button.play`);
  // The poster is the one job.json names (in the publishing attempt's folder).
  const posterURL = await page.$eval('#player', (v) => v.poster);
  if (!doc.poster || !posterURL.endsWith('/' + doc.poster)) fail(`player poster ${posterURL}, job.json names ${doc.poster}`);
  const posterResp = await page.request.get(posterURL);
  if (posterResp.status() !== 200) fail(`poster ${posterURL}: HTTP ${posterResp.status()}`);
  await page.waitForFunction((n) => document.querySelectorAll('#storyboard .tile').length === n, cues);
  const qRows = await page.$$eval('#quality tbody tr', (rs) => rs.length);
  if (qRows !== doc.quality.length) fail(`quality table has ${qRows} rows, want ${doc.quality.length}`);
  ok(`the player shows the poster ${doc.poster}, the storyboard strip (${cues} tiles) and the quality table`);

  // 2d. A live stream below <out>/live/ shows with its latency and plays.
  // (A copy of the published output stands in for a live stream's files;
  // the segments' write times are what the latency is measured from.)
  cpSync(outDir, join(data, 'out', 'live', 'cam1'), { recursive: true });
  rmSync(join(data, 'out', 'live', 'cam1', 'job.json'));
  // Not ended: no ENDLIST in the media playlists job.json lists (in the
  // publishing attempt's folders).
  if (!Array.isArray(doc.playlists) || doc.playlists.length === 0) fail('job.json lists no playlists');
  for (const p of doc.playlists) {
    const pl = join(data, 'out', 'live', 'cam1', p);
    writeFileSync(pl, readFileSync(pl, 'utf8').replace(/#EXT-X-(ENDLIST|PLAYLIST-TYPE:VOD)\r?\n?/g, ''));
  }
  const lat = await page.waitForSelector('#live-box:not([hidden]) #streams tr[data-stream="cam1"] .latency', { timeout: 20000 });
  const latText = (await lat.textContent()).trim();
  const latS = parseFloat(latText);
  if (!/^\d+\.\d s$/.test(latText) || !(latS >= 0 && latS < 60)) fail('live latency shows ' + latText);
  ok(`the live stream is listed with its latency (${latText})`);
  await page.click('#streams tr[data-stream="cam1"] button');
  const r3 = await (await page.waitForFunction(() => {
    const v = document.querySelector('#player');
    if (v.error) return { error: `media error ${v.error.code}: ${v.error.message}` };
    return v.readyState >= 2 && document.querySelector('#player-title').textContent === 'live: cam1' ? { t: v.currentTime } : false;
  }, null, { timeout: 60000 })).jsonValue();
  if (r3.error) fail('live playback failed: ' + r3.error);
  ok(`the live stream loads in the player (at ${r3.t.toFixed(2)} s, no media error)`);

  // 3. A file that is not media is refused with a clear message.
  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, not a video\n') });
  const refusal = await page.waitForSelector('#uploads li:first-child .error');
  const refusalText = await refusal.textContent();
  if (!/does not look like a video/.test(refusalText)) fail('unexpected refusal text: ' + refusalText);
  ok('a text file is refused: ' + refusalText);

  // 4. A broken file fails with its reason and lands in the dead letters.
  await page.setInputFiles('#file', bad);
  const badLi = await page.waitForSelector('#uploads li[data-job-id]:not([data-job-id="' + goodID + '"])');
  const badID = await badLi.getAttribute('data-job-id');
  const failed = await page.waitForSelector(`#jobs tr[data-job-id="${badID}"][data-state="failed"] .reason`, { timeout: 120000 });
  const reason = (await failed.textContent()).trim();
  if (!reason || reason === 'failed') fail('the failed job shows no reason');
  ok(`the failed job shows its reason: ${reason}`);
  const dl = await page.waitForSelector(`#dlq tr[data-job-id="${badID}"]`);
  const dlReason = (await dl.$eval('.reason', (e) => e.textContent)).trim();
  if (!dlReason) fail('the dead letter shows no reason');
  ok(`the dead-letter list shows it: ${dlReason}`);

  // 5. Fix the source and retry from the dead letters: the job is published.
  copyFileSync(good, join(data, 'sources', `${badID}-${basename(bad)}`));
  await dl.$eval('button.retry', (b) => b.click());
  await page.waitForSelector(`#dlq tr[data-job-id="${badID}"]`, { state: 'detached' });
  ok('retry took the dead letter off the list');
  await page.waitForSelector(`#jobs tr[data-job-id="${badID}"][data-state="published"]`, { timeout: 180000 });
  ok('the retried job is published');

  if (requests !== 1) fail(`the page opened ${requests} event streams; want exactly one`);
  ok('one event stream for the whole session (no polling)');
} catch (e) {
  console.error('FAIL: ' + e.message);
  for (const l of logs) console.error(l);
  await browser.close();
  process.exit(1);
}
await browser.close();
