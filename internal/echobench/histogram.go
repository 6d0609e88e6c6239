package echobench

import (
	"math"
	"time"
)

// Histogram counts latencies in buckets that grow by 5%, from 1 µs to
// about 10 s: enough to read p50 and p99 to within 5% without keeping
// every sample. The zero value is empty; a nil *Histogram records nothing.
type Histogram struct{ counts [340]int64 }

const histBase = 1.05

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	if h == nil {
		return
	}
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us) / math.Log(histBase))
	}
	h.counts[min(i, len(h.counts)-1)]++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
}

// Quantile returns the latency below which the fraction q of the recorded
// ones fall (the upper edge of its bucket), or 0 if none was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	var total int64
	for _, n := range h.counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(total)))
	var seen int64
	for i, n := range h.counts {
		seen += n
		if seen >= want {
			us := math.Pow(histBase, float64(i+1))
			return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond)
		}
	}
	return 0
}
