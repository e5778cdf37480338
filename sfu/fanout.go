package sfu

import (
	"runtime"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/surgertc/surge/simulcast"
)

// fanoutWorkers spreads one read loop's fan-out over worker goroutines, so
// that a packet with many subscribers is written by several cores at once
// and the last subscriber's wait (in-SFU latency) stops growing with the
// room. Below the threshold, or with no workers configured, the read loop
// writes to every subscriber itself. On two cores one worker lowered p50
// and p99 in nine of nine back-to-back pairs (at 100 and 250 subscribers)
// for at most 2 % more CPU per packet (docs/performance.md), so it is on
// there too.
//
// The read loop owns its workers: it starts them on the first packet whose
// fan-out reaches the threshold and stops them when it ends, so they live
// as long as the upstream layer and a closed room leaves none behind. Each
// group of packets (readahead.go) is cut into contiguous shards of the
// subscriber list, one per worker and the last for the read loop itself,
// which waits for all before it hands the packets' buffers back. A worker
// writes its shard into a batch of its own and flushes it at the shard's
// end (and whenever it fills): no timer.
//
// A slow subscriber costs the others nothing here either: writeRTP never
// blocks on the network (sealed into the batch, sent with MSG_DONTWAIT,
// refused packets dropped and counted), so no shard waits on a socket.
type fanoutWorkers struct {
	n, threshold int           // configured workers (0: always serial) and from how many subscribers
	newBatch     func() *batch // the server's batch source, for each worker's own
	room, track  string        // profile labels of the workers

	started bool
	work    []chan fanShard
	batches []*batch
	pending sync.WaitGroup // shards of the packet in flight
	running sync.WaitGroup // worker goroutines
	job     fanJob         // the packets in flight; written before the sends, read after them
}

// fanJob is the packets a fan-out writes.
type fanJob struct {
	layer int
	pkts  []fwdPacket
	downs []*DownTrack
}

// fwdPacket is one upstream packet as the DownTracks take it.
type fwdPacket struct {
	pkt  *rtp.Packet
	meta *simulcast.Meta
	abs  []byte
	now  time.Time // arrival
}

// fanShard is a worker's part of the subscriber list: downs[lo:hi].
type fanShard struct{ lo, hi int }

// resolveFanoutWorkers turns forward.fanout_workers into a worker count:
// -1 is GOMAXPROCS-1 (0, serial, on one core: a worker there only adds a
// hand-off).
func resolveFanoutWorkers(configured int) int {
	if configured >= 0 {
		return configured
	}
	return runtime.GOMAXPROCS(0) - 1
}

// split reports whether a fan-out to n subscribers goes to the workers.
func (f *fanoutWorkers) split(n int) bool {
	return f.n > 0 && n >= f.threshold && n > 1
}

// run writes j to every subscriber in j.downs across the workers and the
// calling read loop, and returns when all have been written and flushed.
// own is the caller's batch, flushed by the caller.
func (f *fanoutWorkers) run(j fanJob, own *batch) {
	if !f.started {
		f.start()
	}
	n := len(j.downs)
	shards := min(f.n+1, n)
	f.job = j
	f.pending.Add(shards - 1)
	for i := 0; i < shards-1; i++ {
		f.work[i] <- fanShard{lo: i * n / shards, hi: (i + 1) * n / shards}
	}
	j.write((shards-1)*n/shards, n, own)
	f.pending.Wait()
}

// write forwards j to downs[lo:hi] into b, one subscriber's packets after
// another's.
func (j *fanJob) write(lo, hi int, b *batch) {
	for _, d := range j.downs[lo:hi] {
		d.writeRTP(j.layer, j.pkts, b)
	}
}

func (f *fanoutWorkers) start() {
	f.started = true
	f.work = make([]chan fanShard, f.n)
	f.batches = make([]*batch, f.n)
	f.running.Add(f.n)
	for i := range f.work {
		// One slot: the read loop hands over a shard and goes on to
		// its own without waiting for the worker to wake.
		f.work[i] = make(chan fanShard, 1)
		f.batches[i] = f.newBatch()
		go f.worker(f.work[i], f.batches[i])
	}
}

func (f *fanoutWorkers) worker(work <-chan fanShard, b *batch) {
	defer f.running.Done()
	labelGoroutine(f.room, "track", f.track, "role", "fanout")
	for s := range work {
		f.job.write(s.lo, s.hi, b)
		b.flush()
		f.pending.Done()
	}
}

// stop ends the workers and waits for them. Only the owning read loop calls
// it, after its last packet.
func (f *fanoutWorkers) stop() {
	if !f.started {
		return
	}
	for _, w := range f.work {
		close(w)
	}
	f.running.Wait()
	for _, b := range f.batches {
		putBatch(b)
	}
	f.started, f.work, f.batches = false, nil, nil
	f.job = fanJob{}
}
