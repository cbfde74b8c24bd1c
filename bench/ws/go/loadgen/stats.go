package main

import (
	"slices"
	"sync/atomic"
	"time"
)

// phase holds one publish phase's counters; readers write it lock-free (each sample goes to
// its own slot), the driver reads it once the phase is over.
type phase struct {
	count     atomic.Int64
	last      atomic.Int64 // unix ns of the last delivery
	samples   []int32      // latency in microseconds, the first len(samples) deliveries
	sampleIdx atomic.Int64
}

type stats struct {
	current atomic.Pointer[phase]
}

func (s *stats) begin(maxSamples int) *phase {
	p := &phase{samples: make([]int32, maxSamples)}
	s.current.Store(p)
	return p
}

func (s *stats) delivered(now, latency int64) {
	p := s.current.Load()
	if p == nil {
		return
	}
	p.count.Add(1)
	for {
		last := p.last.Load()
		if now <= last || p.last.CompareAndSwap(last, now) {
			break
		}
	}
	if i := p.sampleIdx.Add(1) - 1; i < int64(len(p.samples)) {
		us := latency / 1000
		if us > 1<<31-1 {
			us = 1<<31 - 1
		}
		p.samples[i] = int32(us)
	}
}

type latencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func summarize(samples []int32) latencySummary {
	if len(samples) == 0 {
		return latencySummary{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	at := func(q float64) float64 {
		i := int(q * float64(len(sorted)-1))
		return float64(sorted[i]) / 1000
	}
	var sum float64
	for _, v := range sorted {
		sum += float64(v)
	}
	return latencySummary{Count: int64(len(sorted)), P50: at(0.50), P90: at(0.90), P99: at(0.99),
		P999: at(0.999), Max: float64(sorted[len(sorted)-1]) / 1000,
		Mean: sum / float64(len(sorted)) / 1000}
}

// timeline samples the delivery counter every interval until stop is closed.
func timeline(p *phase, interval time.Duration, stop <-chan struct{}) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		points := []int64{}
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		prev := int64(0)
		for {
			select {
			case <-stop:
				out <- points
				return
			case <-ticker.C:
				n := p.count.Load()
				points = append(points, n-prev)
				prev = n
				if len(points) > 3600 {
					out <- points
					return
				}
			}
		}
	}()
	return out
}
