// Installed by weaklink_test.go in the shaped subscriber's page. It keeps two
// records until the test drains them (window.weakLink.drain()):
// - samples: the received video's inbound-rtp stats every 200 ms (frame
//   size, frames decoded, W3C freeze and pause counters, bytes, loss);
// - frames: every frame the <video> element presents (requestVideoFrameCallback),
//   with its width, so that a stall is measured where the user sees it.
// Times are Unix milliseconds, the same clock as the test's time.Now().
(() => {
  if (window.weakLink) return 'already installed';
  const pc = window.surge.client.subscriber;
  const rec = {samples: [], frames: []};
  let video = null;
  const onFrame = (now, md) => {
    rec.frames.push([Math.round(performance.timeOrigin + now), md.width]);
    video.requestVideoFrameCallback(onFrame);
  };
  const attach = () => {
    const v = document.querySelector('.tile:not(.self) video');
    if (v && v !== video && v.requestVideoFrameCallback) {
      video = v;
      v.requestVideoFrameCallback(onFrame);
    }
  };
  const sample = async () => {
    attach();
    const report = await pc.getStats();
    let s = null;
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && (!s || (r.framesDecoded || 0) > (s.framesDecoded || 0))) s = r;
    });
    if (!s) return;
    rec.samples.push({
      at: Date.now(),
      frameWidth: s.frameWidth || 0,
      framesPerSecond: s.framesPerSecond || 0,
      framesDecoded: s.framesDecoded || 0,
      freezeCount: s.freezeCount || 0,
      totalFreezesDuration: s.totalFreezesDuration || 0,
      pauseCount: s.pauseCount || 0,
      totalPausesDuration: s.totalPausesDuration || 0,
      bytesReceived: s.bytesReceived || 0,
      packetsLost: s.packetsLost || 0,
      keyFramesDecoded: s.keyFramesDecoded || 0,
    });
  };
  setInterval(() => { sample().catch(() => {}); }, 200);
  window.weakLink = {
    drain() {
      const out = {samples: rec.samples, frames: rec.frames};
      rec.samples = [];
      rec.frames = [];
      return out;
    },
  };
  return 'installed';
})()
