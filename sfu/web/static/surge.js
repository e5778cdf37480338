// surge.js: a small browser client of Surge's signaling protocol.
//
// It is the client the demo page uses, and it is meant to be read: each
// message of docs/signaling.md appears here once, with the reason for how it
// is handled. Copy it, or use it as a map when writing your own client.
//
// The shape of a session:
//
//   1. Open a WebSocket to ws(s)://<host>/rtc and send {"type":"join","token"}.
//      The server answers "joined" with our participant id, the others already
//      in the room (and their tracks) and the ICE servers to use.
//   2. To publish, create the *publisher* RTCPeerConnection, add sendonly
//      transceivers and send its offer; the server answers. The client is the
//      only offerer on this connection.
//   3. To receive, wait: the server creates the *subscriber* connection and
//      sends an offer whenever the set of tracks we receive changes; we answer.
//      The server is the only offerer on this connection, so the two sides
//      never offer at the same time (no glare), however often tracks come and go.
//   4. ICE candidates trickle both ways as "candidate" messages, each naming
//      the connection ("target") it belongs to.
//   5. Room events (participant_joined/left, track_published/unpublished),
//      quality events (bandwidth, layer) and keepalive pings arrive on the
//      same socket. Room events that happen close together (a crowd
//      joining) come batched in one "events" message: handle each in turn.
//      Answer every "ping" with a "pong", or the server drops us.
//
// Usage:
//
//   const client = new SurgeClient();
//   client.addEventListener('track', (e) => attach(e.detail.participantId, e.detail.trackId, e.detail.track));
//   await client.join(token);
//   const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
//   await client.publish(media);
//   client.setSubscription(trackId, {maxLayer: 'q'});   // a thumbnail needs only q
//   client.leave();
//
// Several nodes: a join that reaches a node not holding the room is answered
// with "redirect" {url}; join() follows it (same token, at most maxRedirects
// hops) and resolves once a node says "joined". A "redirect" after joined
// means the room moved: the 'redirect' event fires, the socket closes, and
// the app joins again at event.detail.url. On any other lost socket, join
// again through the entry URL after reconnectDelay(attempt) — app.js shows
// how.
//
// Events (CustomEvent, payload in event.detail): joined, participant_joined,
// participant_left, track_published, track_unpublished, track ({track,
// trackId, participantId, info}: a received MediaStreamTrack and the
// TrackInfo id it carries — use trackId, not track.id, see _answerSubscriber), layer,
// bandwidth, error, leave (the server disconnects us, e.g. "replaced"),
// close (the socket closed), redirect ({url}: the room moved, join there),
// message (every message received, for logging).

/**
 * The simulcast encodings a camera is published with: three copies of the
 * same video at quarter, half and full resolution, lowest first. The server
 * forwards one of them to each subscriber, chosen from that subscriber's
 * bandwidth estimate and its max_layer cap. The RIDs q/h/f are the layer
 * names the protocol uses (max_layer, the layer event, TrackInfo.layers).
 */
export const SIMULCAST_ENCODINGS = [
  {rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000},
  {rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000},
  {rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_700_000},
];

/** The signaling URL of the server that served this page: ws(s)://host/rtc. */
export function signalingURL(loc = window.location) {
  return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/rtc';
}

/**
 * Fetches a development token. The server offers GET /dev/token only while it
 * runs with the built-in development key (loopback only); a server with real
 * keys answers 404, and the token must come from your own backend instead.
 * Resolves to the token, or to null when the server has no dev tokens.
 */
export async function fetchDevToken(room, identity) {
  const q = new URLSearchParams({room, identity});
  const res = await fetch('/dev/token?' + q.toString(), {cache: 'no-store'});
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`dev token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/**
 * How long to wait before reconnect attempt n (0-based) after a lost socket:
 * 0.5 s doubling to 5 s, with ±20 % jitter so that the clients of a failed
 * node do not all knock at the same instant.
 */
export function reconnectDelay(attempt) {
  return Math.min(5000, 500 * 2 ** Math.min(attempt, 10)) * (0.8 + 0.4 * Math.random());
}

export class SurgeClient extends EventTarget {
  /**
   * @param {{url?: string, maxRedirects?: number, iceTransportPolicy?: RTCIceTransportPolicy}} [opts]
   *   url defaults to signalingURL(); iceTransportPolicy 'relay' uses only
   *   the TURN servers of joined.ice_servers.
   */
  constructor(opts = {}) {
    super();
    /** the node this client talks to; a followed redirect changes it */
    this.url = opts.url || signalingURL();
    this.iceTransportPolicy = opts.iceTransportPolicy || 'all';
    this.maxRedirects = opts.maxRedirects ?? 3;
    /** redirects followed by join() */
    this.redirects = 0;
    this.ws = null;
    /** @type {RTCPeerConnection|null} client offers: our tracks to the server */
    this.publisher = null;
    /** @type {RTCPeerConnection|null} server offers: everyone else's tracks to us */
    this.subscriber = null;
    this.participantId = '';
    this.identity = '';
    this.room = '';
    this.iceServers = [];
    /** participant id → {id, identity} of everyone else in the room */
    this.participants = new Map();
    /** track id → TrackInfo of every remote track announced to us */
    this.tracks = new Map();
    /** track id → {layer, paused}, from the server's layer events */
    this.layers = new Map();
    /** the server's latest estimate of our downlink, from bandwidth events */
    this.bandwidthBps = 0;

    // Candidates can arrive before the description they belong to: the
    // server starts gathering when it sets its own description, which may be
    // before the offer or answer message is on the wire. addIceCandidate
    // needs a remote description, so early candidates wait here.
    this._earlyCandidates = {publisher: [], subscriber: []};
    // Messages are handled one at a time, in arrival order, each waiting for
    // the previous one's async WebRTC calls: an offer must be applied before
    // the candidates that follow it, and a new offer only after the last one
    // was answered.
    this._inbox = Promise.resolve();
    this._publisherAnswer = null; // {resolve, reject} of the offer in flight
    this._mids = new Map(); // subscriber m-section mid → {streamId, trackId}
    this._announced = new Map(); // mid → track id last announced in a 'track' event
  }

  /**
   * Connects and joins. Resolves with the joined message; rejects with the
   * server's error (err.code is the protocol's error code) or when the
   * socket closes first.
   * @param {string} token access token (HS256 JWT) naming room and identity
   * @param {string} [room] if given, the server checks it against the token
   */
  join(token, room) {
    return this._join(token, room, 0);
  }

  _join(token, room, hops) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let joined = false;
      let redirect = '';
      ws.onopen = () => {
        // join must be the first message, within the server's join timeout.
        const m = {type: 'join', token};
        if (room) m.room = room;
        this._send(m);
      };
      ws.onmessage = (ev) => {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch (err) {
          console.error('surge: server sent invalid JSON', ev.data);
          return;
        }
        if (!joined && m.type === 'redirect') {
          // The room lives on another node (docs: redirect). The server
          // closes this socket; onclose joins there with the same token.
          redirect = m.url || '';
          this._emit('message', m);
          return;
        }
        if (!joined && m.type === 'joined') {
          joined = true;
          this._onJoined(m);
          resolve(m);
        } else if (!joined && m.type === 'error') {
          // Before joined, every error closes the socket (docs: Errors).
          reject(protocolError(m));
        }
        this._inbox = this._inbox.then(() => this._handle(m)).catch((err) => {
          console.error('surge: handling', m.type, err);
          this._emit('error', {code: 'client_error', message: String(err)});
        });
      };
      ws.onclose = (ev) => {
        if (!joined && redirect) {
          if (hops >= this.maxRedirects) {
            reject(new Error(`more than ${this.maxRedirects} redirects (last to ${redirect})`));
            return;
          }
          this.url = redirect;
          this.redirects++;
          this._join(token, room, hops + 1).then(resolve, reject);
          return;
        }
        if (!joined) reject(new Error(`signaling socket closed before joined (code ${ev.code})`));
        if (this._publisherAnswer) this._publisherAnswer.reject(new Error('signaling socket closed'));
        this._emit('close', {code: ev.code, reason: ev.reason});
      };
    });
  }

  /**
   * Publishes the tracks of a stream (typically from getUserMedia): audio as
   * is, video with three simulcast encodings unless {simulcast: false}.
   * Resolves when the server's answer is applied; media flows once ICE and
   * DTLS complete, and the server then announces the tracks to the room.
   */
  async publish(stream, {simulcast = true} = {}) {
    if (this.publisher) throw new Error('already publishing; renegotiate by calling offerPublisher()');
    const pc = this._newPeerConnection('publisher');
    this.publisher = pc;
    for (const track of stream.getTracks()) {
      const init = {direction: 'sendonly', streams: [stream]};
      if (track.kind === 'video' && simulcast) {
        // Copies, because the browser may annotate the objects it is given.
        init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({...e}));
      }
      const tr = pc.addTransceiver(track, init);
      if (track.kind === 'video') this._videoSender = tr.sender;
    }
    await this.offerPublisher();
    if (this._videoSender) await keepResolution(this._videoSender);
  }

  /**
   * Sends an offer on the publisher connection and applies the answer. Call
   * it again after adding or removing transceivers. One offer at a time: the
   * protocol allows only one publisher offer in flight.
   */
  async offerPublisher() {
    const pc = this.publisher;
    const answered = new Promise((resolve, reject) => { this._publisherAnswer = {resolve, reject}; });
    await pc.setLocalDescription(await pc.createOffer());
    this._send({type: 'offer', target: 'publisher', sdp: pc.localDescription.sdp});
    try {
      await answered;
    } finally {
      this._publisherAnswer = null;
    }
  }

  /**
   * Caps or pauses one received track. maxLayer is 'q', 'h' or 'f': the
   * server forwards at most that layer (and goes lower when our bandwidth
   * needs it). paused true stops the track altogether, e.g. for a hidden tile.
   */
  setSubscription(trackId, {maxLayer, paused} = {}) {
    const m = {type: 'subscription', track_id: trackId};
    if (maxLayer) m.max_layer = maxLayer;
    if (paused !== undefined) m.paused = paused;
    this._send(m);
  }

  /** Leaves the room: tells the server, then closes both connections. */
  leave() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this._send({type: 'leave'});
    this.close();
  }

  /** Closes the socket and both connections without telling the server. */
  close() {
    if (this.ws) this.ws.close();
    for (const pc of [this.publisher, this.subscriber]) if (pc) pc.close();
    this.publisher = this.subscriber = null;
  }

  // ---- internals ----

  _send(m) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, {detail}));
  }

  _onJoined(m) {
    this.participantId = m.participant_id;
    this.identity = m.identity;
    this.room = m.room;
    // The same ICE servers serve both connections.
    this.iceServers = m.ice_servers || [];
    for (const p of m.participants || []) {
      this.participants.set(p.id, {id: p.id, identity: p.identity});
      for (const t of p.tracks || []) this.tracks.set(t.id, t);
    }
  }

  async _handle(m) {
    this._emit('message', m);
    switch (m.type) {
      case 'joined':
        this._emit('joined', m);
        break;
      case 'ping':
        // Keepalive: the server closes a socket silent for ping_timeout.
        this._send({type: 'pong'});
        break;
      case 'pong':
        break;
      case 'offer': // always target subscriber: the server offers only there
        await this._answerSubscriber(m.sdp);
        break;
      case 'answer': // always target publisher: the answer to our offer
        await this.publisher.setRemoteDescription({type: 'answer', sdp: m.sdp});
        await this._flushCandidates('publisher');
        if (this._publisherAnswer) this._publisherAnswer.resolve();
        break;
      case 'candidate':
        await this._addCandidate(m.target, m.candidate);
        break;
      case 'events':
        // Several room events, in the order they happened; each is handled
        // exactly as if it had arrived alone.
        for (const ev of m.events || []) await this._handle(ev);
        break;
      case 'participant_joined':
        this.participants.set(m.participant.id, {id: m.participant.id, identity: m.participant.identity});
        this._emit('participant_joined', m.participant);
        break;
      case 'participant_left': {
        const p = this.participants.get(m.participant_id) || {id: m.participant_id, identity: ''};
        this.participants.delete(m.participant_id);
        for (const [id, t] of this.tracks) if (t.participant_id === m.participant_id) this.tracks.delete(id);
        this._emit('participant_left', p);
        break;
      }
      case 'track_published':
        // A subscriber offer carrying the track follows; its msid track id
        // is m.track.id, so the 'track' event below can be matched to it.
        this.tracks.set(m.track.id, m.track);
        this._emit('track_published', m.track);
        break;
      case 'track_unpublished':
        this.tracks.delete(m.track.id);
        this.layers.delete(m.track.id);
        this._emit('track_unpublished', m.track);
        break;
      case 'layer':
        // The layer the server forwards now for one of our tracks; "" with
        // paused true when nothing fits or we paused it.
        this.layers.set(m.track_id, {layer: m.layer || '', paused: !!m.paused});
        this._emit('layer', {trackId: m.track_id, layer: m.layer || '', paused: !!m.paused});
        break;
      case 'bandwidth':
        this.bandwidthBps = m.bitrate_bps;
        this._emit('bandwidth', {bitrateBps: m.bitrate_bps});
        break;
      case 'leave':
        // The server disconnects us: "replaced" (same identity joined
        // elsewhere) or "server_draining" (reconnect, ideally to another node).
        this._emit('leave', {code: m.code, message: m.message});
        break;
      case 'redirect':
        // After joined: the room moved to another node (two held it after
        // a Redis outage). The socket closes next; join again at m.url.
        this._emit('redirect', {url: m.url, room: m.room});
        break;
      case 'error':
        // After joined, errors concern one request; the session goes on.
        this._emit('error', {code: m.code, message: m.message});
        if (this._publisherAnswer && (m.code === 'invalid_sdp' || m.code === 'forbidden' || m.code === 'too_many_tracks')) {
          this._publisherAnswer.reject(protocolError(m));
        }
        break;
      default:
        // Newer servers may send types this client does not know; ignore them.
    }
  }

  async _answerSubscriber(sdp) {
    if (!this.subscriber) this.subscriber = this._newPeerConnection('subscriber');
    const pc = this.subscriber;
    // Which track each m-section carries, from the offer's a=msid lines
    // ("<publisher participant id> <track id>"). Do not rely on the
    // MediaStreamTrack's own id: when a track ends, the server reuses its
    // m-section (transceiver) for the next track of that kind, and the
    // browser keeps the receiver's original MediaStreamTrack, id and all.
    const mids = msidByMid(sdp);
    await pc.setRemoteDescription({type: 'offer', sdp});
    await this._flushCandidates('subscriber');
    await pc.setLocalDescription(await pc.createAnswer());
    this._send({type: 'answer', target: 'subscriber', sdp: pc.localDescription.sdp});
    this._mids = mids;
    // Announce every receiver that now carries a different track. This
    // replaces ontrack, which fires for new transceivers but not reliably
    // for reused ones.
    for (const tr of pc.getTransceivers()) {
      const m = tr.mid !== null ? mids.get(tr.mid) : undefined;
      if (!m || this._announced.get(tr.mid) === m.trackId) continue;
      this._announced.set(tr.mid, m.trackId);
      this._emit('track', {
        track: tr.receiver.track, trackId: m.trackId, participantId: m.streamId,
        info: this.tracks.get(m.trackId) || null, transceiver: tr,
      });
    }
  }

  /** The track id an m-section (as getStats' inbound-rtp "mid") carries now. */
  trackIdForMid(mid) {
    const m = this._mids.get(mid);
    return m ? m.trackId : '';
  }

  _newPeerConnection(target) {
    // max-bundle: every track on one transport, as the server expects (all
    // media shares one UDP port on its side anyway).
    const pc = new RTCPeerConnection({
      iceServers: this.iceServers, iceTransportPolicy: this.iceTransportPolicy, bundlePolicy: 'max-bundle',
    });
    pc.onicecandidate = (ev) => {
      // null marks the end of gathering; the server needs no message for it.
      if (ev.candidate && ev.candidate.candidate) {
        this._send({type: 'candidate', target, candidate: ev.candidate.toJSON()});
      }
    };
    pc.onconnectionstatechange = () => this._emit('connectionstate', {target, state: pc.connectionState});
    return pc;
  }

  async _addCandidate(target, cand) {
    const pc = target === 'publisher' ? this.publisher : this.subscriber;
    if (!pc || !pc.remoteDescription) {
      this._earlyCandidates[target].push(cand);
      return;
    }
    await pc.addIceCandidate(cand);
  }

  async _flushCandidates(target) {
    const pc = target === 'publisher' ? this.publisher : this.subscriber;
    const list = this._earlyCandidates[target];
    this._earlyCandidates[target] = [];
    for (const c of list) await pc.addIceCandidate(c);
  }
}

/**
 * Asks the encoder to keep each layer's resolution under CPU or bandwidth
 * pressure and to lower the frame rate instead. The SFU chooses among
 * layers by their nominal size (q/h/f); a publisher that silently shrank its
 * f layer to 640×360 would make that choice, and the tiles' labels, lie.
 * Browsers without the setting keep their default ("balanced").
 */
async function keepResolution(sender) {
  try {
    const params = sender.getParameters();
    params.degradationPreference = 'maintain-resolution';
    await sender.setParameters(params);
  } catch (err) {
    console.info('surge: degradationPreference not supported:', err.message);
  }
}

/**
 * Maps each m-section's mid to its msid ({streamId, trackId}). The server
 * writes one a=msid line per sending m-section; inactive ones have none.
 */
function msidByMid(sdp) {
  const out = new Map();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /^a=mid:(\S+)/m.exec(section);
    const msid = /^a=msid:(\S+) (\S+)/m.exec(section);
    if (mid && msid) out.set(mid[1], {streamId: msid[1], trackId: msid[2]});
  }
  return out;
}

function protocolError(m) {
  const err = new Error(`${m.code}: ${m.message || ''}`);
  err.code = m.code;
  return err;
}
