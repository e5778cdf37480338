// app.js: the demo page. The protocol lives in surge.js; this file only
// wires it to the DOM: a form to join, one tile per participant, and a
// once-a-second refresh of the numbers each tile shows.
//
// For tests and for poking at a call from the DevTools console, the page
// exposes window.surge (see the bottom of this file): stats(), sdp(), the
// received events, and cap() which drives a tile's layer control.

import {SurgeClient, fetchDevToken, reconnectDelay} from './surge.js';
import {summarize, formatBitrate, dtlsVersion} from './stats.js';

const $ = (sel) => document.querySelector(sel);
const LAYER_NAMES = {q: 'q (quarter)', h: 'h (half)', f: 'f (full)'};

let client = null;
let localStream = null;
let refreshTimer = 0;
/**
 * What it takes to join again after a lost socket: the token, the room,
 * whether we publish, and the reconnect state. null when not in a call.
 * {token, room, publish, attempt, timer, nextURL, reconnect, reconnects}
 */
let session = null;
/** participant id → tile; the own tile is keyed 'self' */
const tiles = new Map();
/** room and quality events in arrival order, for tests and debugging */
const events = [];

// ---- joining and leaving ----

function defaults() {
  const q = new URLSearchParams(location.search);
  $('#room').value = q.get('room') || $('#room').value;
  $('#identity').value = q.get('name') || 'guest-' + Math.random().toString(36).slice(2, 6);
  if (q.get('token')) $('#token').value = q.get('token');
  if (q.get('publish') === '0') $('#publish').checked = false;
}

async function join(ev) {
  if (ev) ev.preventDefault();
  if (client || session) return;
  const room = $('#room').value.trim();
  const identity = $('#identity').value.trim();
  setState('joining…');
  $('#join').disabled = true;
  try {
    let token = $('#token').value.trim();
    if (!token) {
      token = await fetchDevToken(room, identity);
      if (!token) throw new Error('this server has real API keys: paste a token (surge token …)');
    }
    session = {token, room, publish: $('#publish').checked, attempt: 0, timer: 0, nextURL: '', reconnect: true, reconnects: 0};
    await connect();
  } catch (err) {
    setState(err.message, true);
    session = null;
    teardown();
  }
}

// connect joins (following redirects) and publishes: the first time, and
// again after every lost socket.
async function connect() {
  const s = session;
  // Reconnect through the entry URL (the page's own server), unless the
  // server named the node to go to: a draining or dead node's rooms are
  // re-placed by whichever node we reach.
  const c = new SurgeClient(s.nextURL ? {url: s.nextURL} : {});
  s.nextURL = '';
  wire(c);
  try {
    await c.join(s.token, s.room);
  } catch (err) {
    c.close();
    throw err;
  }
  if (session !== s) { // left meanwhile
    c.leave();
    return;
  }
  client = c;
  s.attempt = 0;
  setState(`in room ${c.room} as ${c.identity}` + (s.reconnects ? ` (reconnected ${s.reconnects}×)` : ''));
  $('#leave').disabled = false;
  clearInterval(refreshTimer);
  refreshTimer = setInterval(refresh, 1000);
  if (s.publish) await publish();
}

// scheduleReconnect tears down what the lost session showed (the camera
// keeps running) and joins again after a backoff.
function scheduleReconnect() {
  const s = session;
  client = null;
  clearInterval(refreshTimer);
  for (const id of [...tiles.keys()]) if (id !== 'self') removeTile(id);
  const delay = s.nextURL ? 0 : reconnectDelay(s.attempt++);
  setState(`connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s…`, true);
  s.timer = setTimeout(async () => {
    if (session !== s) return;
    try {
      await connect();
      s.reconnects++;
      setState(`in room ${client.room} as ${client.identity} (reconnected ${s.reconnects}×)`);
    } catch (err) {
      if (session === s) scheduleReconnect();
    }
  }, delay);
}

async function publish() {
  // 1280×720 is what the three simulcast layers are sized for: f at 720p,
  // h at 360p, q at 180p. Browsers fall back to what the camera offers.
  // A reconnect publishes the same camera again.
  localStream = localStream || await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: {width: {ideal: 1280}, height: {ideal: 720}, frameRate: {ideal: 30}},
  });
  const tile = ensureTile('self', client.identity);
  tile.el.classList.add('self');
  tile.video.srcObject = new MediaStream(localStream.getVideoTracks());
  await client.publish(localStream);
}

function leave() {
  if (session) clearTimeout(session.timer);
  session = null;
  if (client) client.leave();
  teardown();
  setState('left');
}

function teardown() {
  clearInterval(refreshTimer);
  client = null;
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  localStream = null;
  for (const id of [...tiles.keys()]) removeTile(id);
  $('#join').disabled = false;
  $('#leave').disabled = true;
  $('#bandwidth').textContent = '';
  $('#transport').textContent = '';
}

function setState(text, error = false) {
  $('#state').textContent = text;
  $('#state').classList.toggle('error', error);
}

// ---- protocol events → tiles ----

function wire(c) {
  const log = (type, detail) => events.push({t: Date.now(), type, ...detail});
  c.addEventListener('joined', (e) => {
    for (const p of e.detail.participants || []) {
      ensureTile(p.id, p.identity);
      for (const t of p.tracks || []) noteTrack(t);
    }
  });
  c.addEventListener('participant_joined', (e) => {
    log('participant_joined', {participant_id: e.detail.id, identity: e.detail.identity});
    ensureTile(e.detail.id, e.detail.identity);
  });
  c.addEventListener('participant_left', (e) => {
    log('participant_left', {participant_id: e.detail.id, identity: e.detail.identity});
    removeTile(e.detail.id);
  });
  c.addEventListener('track_published', (e) => {
    log('track_published', {track_id: e.detail.id, participant_id: e.detail.participant_id, kind: e.detail.kind});
    noteTrack(e.detail);
  });
  c.addEventListener('track_unpublished', (e) => {
    log('track_unpublished', {track_id: e.detail.id, participant_id: e.detail.participant_id, kind: e.detail.kind});
    const tile = tiles.get(e.detail.participant_id);
    if (tile && tile.videoTrackId === e.detail.id) tile.video.srcObject = null;
    if (tile && tile.audioTrackId === e.detail.id) tile.audio.srcObject = null;
  });
  c.addEventListener('track', (e) => {
    const {track, trackId, participantId} = e.detail;
    const p = c.participants.get(participantId);
    const tile = ensureTile(participantId, p ? p.identity : participantId);
    // Separate elements: the video stays muted so that it may autoplay;
    // the audio element plays the sound.
    if (track.kind === 'video') {
      tile.videoTrackId = trackId;
      tile.video.srcObject = new MediaStream([track]);
    } else {
      tile.audioTrackId = trackId;
      tile.audio.srcObject = new MediaStream([track]);
    }
  });
  c.addEventListener('layer', (e) => {
    log('layer', {track_id: e.detail.trackId, layer: e.detail.layer, paused: e.detail.paused});
    for (const tile of tiles.values()) {
      if (tile.videoTrackId === e.detail.trackId) showLayer(tile, e.detail);
    }
  });
  c.addEventListener('bandwidth', (e) => {
    log('bandwidth', {bitrate_bps: e.detail.bitrateBps});
    $('#bandwidth').textContent = 'downlink estimate ' + formatBitrate(e.detail.bitrateBps);
  });
  c.addEventListener('error', (e) => {
    log('error', e.detail);
    setState(`${e.detail.code}: ${e.detail.message}`, true);
  });
  c.addEventListener('leave', (e) => {
    log('leave', e.detail);
    setState(`disconnected by the server: ${e.detail.code}`, true);
    // Replaced by our own other tab: joining again would replace it back.
    if (e.detail.code === 'replaced' && session) session.reconnect = false;
  });
  c.addEventListener('redirect', (e) => {
    log('redirect', e.detail);
    if (session) session.nextURL = e.detail.url;
  });
  c.addEventListener('close', () => {
    if (client !== c) return;
    if (session && session.reconnect) {
      scheduleReconnect();
      return;
    }
    session = null;
    teardown();
    if (!$('#state').classList.contains('error')) setState('disconnected', true);
  });
}

function noteTrack(t) {
  const tile = tiles.get(t.participant_id);
  if (!tile) return;
  if (t.kind === 'video') tile.videoTrackId = t.id;
  else tile.audioTrackId = t.id;
}

function ensureTile(id, identity) {
  let tile = tiles.get(id);
  if (tile) return tile;
  const el = $('#tile-template').content.firstElementChild.cloneNode(true);
  el.dataset.participant = id;
  el.dataset.identity = identity;
  el.querySelector('.name').textContent = identity;
  tile = {
    el, identity,
    video: el.querySelector('video'),
    audio: el.querySelector('audio'),
    stats: el.querySelector('.video-stats'),
    layer: el.querySelector('.layer'),
    select: el.querySelector('select'),
    videoTrackId: '', audioTrackId: '',
  };
  tile.select.addEventListener('change', () => {
    if (!client || !tile.videoTrackId) return;
    const v = tile.select.value;
    // "off" pauses the track; any layer resumes it and caps it there.
    if (v === 'off') client.setSubscription(tile.videoTrackId, {paused: true});
    else client.setSubscription(tile.videoTrackId, {maxLayer: v, paused: false});
  });
  // The own tile comes first; remote tiles in order of arrival.
  if (id === 'self') $('#tiles').prepend(el);
  else $('#tiles').append(el);
  tiles.set(id, tile);
  return tile;
}

function removeTile(id) {
  const tile = tiles.get(id);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.audio.srcObject = null;
  tile.el.remove();
  tiles.delete(id);
}

function showLayer(tile, {layer, paused}) {
  tile.layer.textContent = paused ? 'layer: paused' : 'layer: ' + (LAYER_NAMES[layer] || layer || '…');
}

// ---- the once-a-second numbers ----

async function stats() {
  const c = client;
  if (!c) return {joined: false};
  const [publisher, subscriber] = await Promise.all([summarize(c.publisher), summarize(c.subscriber)]);
  // Name each received stream by the track it carries now (see trackIdForMid).
  if (subscriber) for (const i of subscriber.inbound) i.trackId = c.trackIdForMid(i.mid);
  const participants = [];
  for (const [id, tile] of tiles) {
    if (id === 'self') continue;
    participants.push({id, identity: tile.identity, videoTrackId: tile.videoTrackId, audioTrackId: tile.audioTrackId});
  }
  return {
    joined: true,
    participantId: c.participantId, identity: c.identity, room: c.room,
    bandwidthBps: c.bandwidthBps,
    layers: Object.fromEntries(c.layers),
    participants, publisher, subscriber,
  };
}

async function refresh() {
  let s;
  try {
    s = await stats();
  } catch (err) {
    console.warn('stats', err);
    return;
  }
  if (!s.joined) return;
  const self = tiles.get('self');
  if (self && s.publisher) {
    // Per simulcast layer: what the encoder actually produces.
    self.stats.textContent = s.publisher.outbound.filter((o) => o.kind === 'video').map((o) =>
      `${o.rid || 'video'}: ${o.frameWidth}×${o.frameHeight} · ${Math.round(o.framesPerSecond)} fps · ${formatBitrate(o.bitrate)}` +
      (o.qualityLimitationReason && o.qualityLimitationReason !== 'none' ? ` (limited: ${o.qualityLimitationReason})` : '')).join('\n');
  }
  for (const [id, tile] of tiles) {
    if (id === 'self' || !s.subscriber) continue;
    const v = s.subscriber.inbound.find((i) => i.kind === 'video' && i.trackId === tile.videoTrackId);
    const a = s.subscriber.inbound.find((i) => i.kind === 'audio' && i.trackId === tile.audioTrackId);
    const parts = [];
    if (v) parts.push(`${v.frameWidth}×${v.frameHeight}`, `${Math.round(v.framesPerSecond)} fps`, formatBitrate(v.bitrate));
    if (a) parts.push(`audio ${formatBitrate(a.bitrate)}`);
    tile.stats.textContent = parts.join(' · ');
    const l = s.layers[tile.videoTrackId];
    if (l) showLayer(tile, l);
  }
  const tr = (s.subscriber && s.subscriber.transport) || (s.publisher && s.publisher.transport);
  if (tr) $('#transport').textContent = `${dtlsVersion(tr.tlsVersion)} ${tr.srtpCipher || ''}`.trim() + (tr.rttMs !== null ? ` · rtt ${tr.rttMs} ms` : '');
}

// ---- window.surge: a handle for tests and the DevTools console ----

window.surge = {
  get client() { return client; },
  /** reconnects after lost sockets in this call so far */
  get reconnects() { return session ? session.reconnects : 0; },
  events,
  join: () => join(),
  leave,
  stats,
  /** the four session descriptions, for checking what was negotiated */
  sdp() {
    const d = (pc, which) => (pc && pc[which] ? pc[which].sdp : '');
    const c = client;
    return {
      publisher: {local: d(c && c.publisher, 'localDescription'), remote: d(c && c.publisher, 'remoteDescription')},
      subscriber: {local: d(c && c.subscriber, 'localDescription'), remote: d(c && c.subscriber, 'remoteDescription')},
    };
  },
  /** sets the layer control of identity's tile, as a click would */
  cap(identity, value) {
    for (const tile of tiles.values()) {
      if (tile.identity === identity && tile.el.dataset.participant !== 'self') {
        tile.select.value = value;
        tile.select.dispatchEvent(new Event('change'));
        return tile.videoTrackId;
      }
    }
    return '';
  },
};

defaults();
$('#join-form').addEventListener('submit', join);
$('#leave').addEventListener('click', leave);
// Leave explicitly when the page goes away (reload, close), so that the
// others see participant_left at once rather than after the server's timeout.
window.addEventListener('pagehide', () => { if (client) client.leave(); });
