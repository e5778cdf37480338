// stats.js: turns RTCPeerConnection.getStats() into a small JSON-able summary
// (what the demo tiles show and what the browser tests assert on).
//
// getStats returns dozens of report objects linked by id; the summary keeps
// the few numbers a person watching a call asks about (resolution, frame rate,
// bitrate, loss, what was negotiated) and derives rates from the previous
// call, so call it periodically (the page does, once a second).

const previous = new WeakMap(); // RTCPeerConnection → Map(report id → {ts, bytes})

/**
 * @param {RTCPeerConnection|null} pc
 * @returns {Promise<object|null>} {state, transport, outbound[], inbound[]}
 */
export async function summarize(pc) {
  if (!pc) return null;
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((r) => byId.set(r.id, r));
  const prev = previous.get(pc) || new Map();
  const next = new Map();

  // Bits per second from a cumulative byte counter, over at least half a
  // second: callers may poll more often than that (the page refreshes each
  // second, a test polls in between), and browsers cache getStats for a
  // few tens of milliseconds, so a shorter window would read as 0 or noise.
  const rate = (r, bytes) => {
    const p = prev.get(r.id);
    if (p && r.timestamp - p.ts < 500) {
      next.set(r.id, p);
      return p.bps;
    }
    const bps = p ? Math.round(((bytes - p.bytes) * 8 * 1000) / (r.timestamp - p.ts)) : 0;
    next.set(r.id, {ts: r.timestamp, bytes, bps});
    return bps;
  };
  const codecOf = (r) => {
    const c = byId.get(r.codecId);
    return c ? {mimeType: c.mimeType, payloadType: c.payloadType, clockRate: c.clockRate, sdpFmtpLine: c.sdpFmtpLine || ''} : null;
  };

  const out = {state: pc.connectionState, transport: null, outbound: [], inbound: []};
  report.forEach((r) => {
    switch (r.type) {
      case 'transport': {
        const pair = byId.get(r.selectedCandidatePairId);
        const local = pair && byId.get(pair.localCandidateId);
        const remote = pair && byId.get(pair.remoteCandidateId);
        out.transport = {
          dtlsState: r.dtlsState, iceState: r.iceState, dtlsRole: r.dtlsRole,
          tlsVersion: r.tlsVersion, dtlsCipher: r.dtlsCipher, srtpCipher: r.srtpCipher,
          local: local ? `${local.candidateType} ${local.protocol} ${local.address}:${local.port}` : '',
          remote: remote ? `${remote.candidateType} ${remote.protocol} ${remote.address}:${remote.port}` : '',
          rttMs: pair && pair.currentRoundTripTime !== undefined ? Math.round(pair.currentRoundTripTime * 1000) : null,
          availableOutgoingBitrate: pair ? pair.availableOutgoingBitrate || 0 : 0,
        };
        break;
      }
      case 'outbound-rtp':
        out.outbound.push({
          kind: r.kind, rid: r.rid || '', ssrc: r.ssrc, active: r.active !== false,
          frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0,
          framesPerSecond: r.framesPerSecond || 0, framesEncoded: r.framesEncoded || 0,
          bytesSent: r.bytesSent || 0, bitrate: rate(r, r.bytesSent || 0),
          packetsSent: r.packetsSent || 0, nackCount: r.nackCount || 0, pliCount: r.pliCount || 0,
          qualityLimitationReason: r.qualityLimitationReason || '',
          encoderImplementation: r.encoderImplementation || '', scalabilityMode: r.scalabilityMode || '',
          targetBitrate: r.targetBitrate || 0, codec: codecOf(r),
        });
        break;
      case 'inbound-rtp':
        out.inbound.push({
          kind: r.kind, trackIdentifier: r.trackIdentifier || '', mid: r.mid || '', ssrc: r.ssrc,
          frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0,
          framesPerSecond: r.framesPerSecond || 0, framesDecoded: r.framesDecoded || 0,
          framesDropped: r.framesDropped || 0, keyFramesDecoded: r.keyFramesDecoded || 0,
          freezeCount: r.freezeCount || 0,
          totalSamplesReceived: r.totalSamplesReceived || 0, concealedSamples: r.concealedSamples || 0,
          bytesReceived: r.bytesReceived || 0, bitrate: rate(r, r.bytesReceived || 0),
          packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
          jitterMs: r.jitter !== undefined ? Math.round(r.jitter * 1000) : 0,
          nackCount: r.nackCount || 0, pliCount: r.pliCount || 0,
          remoteReportsSent: (byId.get(r.remoteId) || {}).reportsSent || 0, // sender reports read
          decoderImplementation: r.decoderImplementation || '', codec: codecOf(r),
        });
        break;
      default:
    }
  });
  out.outbound.sort((a, b) => (a.kind + a.rid).localeCompare(b.kind + b.rid));
  previous.set(pc, next);
  return out;
}

/** The DTLS version as getStats spells it (the record-layer bytes) → a name. */
export function dtlsVersion(hex) {
  return {FEFF: 'DTLS 1.0', FEFD: 'DTLS 1.2', FEFC: 'DTLS 1.3'}[hex] || hex || '';
}

/** 1234567 → "1.23 Mb/s" */
export function formatBitrate(bps) {
  if (!bps) return '0 kb/s';
  if (bps >= 1e6) return (bps / 1e6).toFixed(2) + ' Mb/s';
  return Math.round(bps / 1e3) + ' kb/s';
}
