package sfu

// tokenBucket is a rate limit: rate tokens a second, at most burst saved up.
// It is a plain value fed the time by its caller (unix nanos), so the
// budgets built on it are table-tested without a clock. Not safe for
// concurrent use; each owner guards its own.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	at          int64 // unix nanos of the last refill; 0 = never used
}

func newTokenBucket(rate, burst float64) tokenBucket {
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

// take spends n tokens if the bucket holds them at now.
func (b *tokenBucket) take(n float64, now int64) bool {
	b.refill(now)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

func (b *tokenBucket) refill(now int64) {
	if b.at != 0 && now > b.at {
		b.tokens = min(b.burst, b.tokens+float64(now-b.at)*b.rate/1e9)
	}
	if now > b.at || b.at == 0 {
		b.at = now
	}
}
