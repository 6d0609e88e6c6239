package echobench_test

import (
	"testing"
	"time"

	"github.com/netrun/netrun/internal/echobench"
	"github.com/netrun/netrun/internal/testpeer"
)

func TestMain(m *testing.M) { testpeer.VerifyTestMain(m) }

func TestRawServersEcho(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			addr, stop, err := echobench.StartRaw(network)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			c, err := echobench.Dial(network, addr, 3, 100)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Round(20); err != nil {
				t.Fatal(err)
			}
			var h echobench.Histogram
			n, d, err := c.Run(t.Context(), 50*time.Millisecond, &h)
			if err != nil || n == 0 || d <= 0 {
				t.Fatalf("Run = %d msgs in %v, %v", n, d, err)
			}
			if p50, p99 := h.Quantile(0.5), h.Quantile(0.99); p50 <= 0 || p99 < p50 {
				t.Fatalf("p50 %v, p99 %v", p50, p99)
			}
		})
	}
	if _, _, err := echobench.StartRaw("sctp"); err == nil {
		t.Fatal("StartRaw accepted sctp")
	}
}

func TestHistogram(t *testing.T) {
	var h echobench.Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.06 {
			t.Errorf("Quantile(%v) = %v, want %v within 5%%", tc.q, got, tc.want)
		}
	}
}
