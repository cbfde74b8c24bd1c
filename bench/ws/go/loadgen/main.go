// Command loadgen opens K WebSocket clients to the GoChat gateway or the centrifuge anchor,
// then runs publish phases on command and reports deliveries and send→deliver latency.
//
// It reads its Config from -config, connects every client, prints {"event":"connected",...}
// and then takes one JSON command per stdin line:
//
//	{"cmd":"publish","publish":{...}}  run one load, print {"event":"published",...}
//	{"cmd":"status"}                   print {"event":"status","open":N}
//	{"cmd":"quit"}                     close every connection and exit
//
// Every loop is bounded in count and time; only 127.0.0.1 targets are accepted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type command struct {
	Cmd     string  `json:"cmd"`
	Publish Publish `json:"publish"`
}

func main() {
	configPath := flag.String("config", "", "run config (JSON)")
	flag.Parse()
	cfg, err := loadConfig(*configPath)
	if err != nil {
		log.Fatal(err)
	}
	raiseFileLimit()
	st := &stats{}
	conns := connectAll(cfg, st)
	out := json.NewEncoder(os.Stdout)
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		var cmd command
		if err := json.Unmarshal(lines.Bytes(), &cmd); err != nil {
			emit(out, map[string]any{"event": "error", "error": err.Error()})
			continue
		}
		switch cmd.Cmd {
		case "publish":
			if err := checkPublish(cfg, &cmd.Publish); err != nil {
				emit(out, map[string]any{"event": "error", "error": err.Error()})
				continue
			}
			emit(out, runPhase(cfg, conns, st, cmd.Publish))
		case "status":
			emit(out, map[string]any{"event": "status", "open": countOpen(conns)})
		case "quit":
			for _, c := range conns {
				c.ws.Close()
			}
			return
		default:
			emit(out, map[string]any{"event": "error", "error": "unknown cmd " + cmd.Cmd})
		}
	}
}

func emit(out *json.Encoder, v any) {
	if err := out.Encode(v); err != nil {
		log.Fatal(err)
	}
}

func connectAll(cfg *Config, st *stats) []*conn {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ConnectTimeoutS*1e9))
	defer cancel()
	conns := make([]*conn, len(cfg.Clients))
	errs := map[string]int{}
	var mu sync.Mutex
	var done atomic.Int64
	sem := make(chan struct{}, cfg.ConnectConcurrency)
	var wg sync.WaitGroup
	for i, client := range cfg.Clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			one, cancelOne := context.WithTimeout(ctx, 60*time.Second)
			defer cancelOne()
			c, err := dial(one, cfg, client, st)
			if err != nil {
				mu.Lock()
				errs[err.Error()]++
				mu.Unlock()
				return
			}
			conns[i] = c
			if n := done.Add(1); n%1000 == 0 {
				log.Printf("loadgen: %d connected after %.1fs", n, time.Since(start).Seconds())
			}
		}()
	}
	wg.Wait()
	var held []*conn
	for _, c := range conns {
		if c != nil {
			held = append(held, c)
		}
	}
	emit(json.NewEncoder(os.Stdout), map[string]any{"event": "connected", "connected": len(held),
		"failed": len(cfg.Clients) - len(held), "errors": errs,
		"seconds": time.Since(start).Seconds()})
	return held
}

func countOpen(conns []*conn) int {
	n := 0
	for _, c := range conns {
		if c.open.Load() {
			n++
		}
	}
	return n
}

type phaseResult struct {
	Event              string         `json:"event"`
	OpenAtStart        int            `json:"open_at_start"`
	OpenAtEnd          int            `json:"open_at_end"`
	CloseReasons       map[string]int `json:"close_reasons"`
	Publish            publishResult  `json:"publish"`
	ExpectedDeliveries int64          `json:"expected_deliveries"`
	Delivered          int64          `json:"delivered"`
	DeliverySeconds    float64        `json:"delivery_seconds"`
	DeliveriesPerS     float64        `json:"deliveries_per_s"`
	PeakDeliveriesPerS float64        `json:"peak_deliveries_per_s"`
	Latency            latencySummary `json:"latency"`
	Timeline           []int64        `json:"timeline_per_100ms"`
}

func runPhase(cfg *Config, conns []*conn, st *stats, pub Publish) phaseResult {
	res := phaseResult{Event: "published", CloseReasons: map[string]int{}}
	recipients := make([]int64, len(cfg.Channels))
	for _, c := range conns {
		if c.open.Load() {
			recipients[c.channel]++
			res.OpenAtStart++
		}
	}
	p := st.begin(cfg.MaxSamples)
	stop := make(chan struct{})
	points := timeline(p, 100*time.Millisecond, stop)
	pr, err := publish(cfg, pub)
	if err != nil {
		pr.Errors = map[string]int{err.Error(): 1}
	}
	res.Publish = pr
	for ch, n := range pr.PerChannel {
		res.ExpectedDeliveries += int64(n) * recipients[ch]
	}
	// Wait for the last deliveries: until all expected arrived, or nothing came for 5 s,
	// or DrainS passed.
	deadline := time.Now().Add(time.Duration(cfg.DrainS * 1e9))
	lastCount, lastChange := p.count.Load(), time.Now()
	for time.Now().Before(deadline) && p.count.Load() < res.ExpectedDeliveries {
		time.Sleep(50 * time.Millisecond)
		if n := p.count.Load(); n != lastCount {
			lastCount, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 5*time.Second {
			break
		}
	}
	close(stop)
	res.Timeline = <-points
	st.current.Store(nil)
	res.Delivered = p.count.Load()
	if res.Delivered > 0 && pr.FirstNs > 0 {
		res.DeliverySeconds = float64(p.last.Load()-pr.FirstNs) / 1e9
		res.DeliveriesPerS = float64(res.Delivered) / res.DeliverySeconds
	}
	for i := 0; i+10 <= len(res.Timeline); i++ { // best 1-second window
		var sum int64
		for _, v := range res.Timeline[i : i+10] {
			sum += v
		}
		res.PeakDeliveriesPerS = max(res.PeakDeliveriesPerS, float64(sum))
	}
	n := min(p.sampleIdx.Load(), int64(len(p.samples)))
	res.Latency = summarize(p.samples[:n])
	res.Latency.Count = res.Delivered
	for _, c := range conns {
		if c.open.Load() {
			res.OpenAtEnd++
		} else if reason, ok := c.closeErr.Load().(string); ok {
			res.CloseReasons[reason]++
		}
	}
	return res
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: could not raise the open-files limit:", err)
		}
	}
}
