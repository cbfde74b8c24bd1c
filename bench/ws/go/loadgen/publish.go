package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const markerPlaceholder = "__BENCH__"

type publishResult struct {
	Published  int            `json:"published"`
	PerChannel []int          `json:"per_channel"`
	Errors     map[string]int `json:"errors"`
	Seconds    float64        `json:"seconds"`
	FirstNs    int64          `json:"first_ns"`
	APIPost    latencySummary `json:"api_post_latency"`
}

func marker() string { return "bench:" + strconv.FormatInt(time.Now().UnixNano(), 10) }

// pacer sleeps until message i is due at `rate` per second (no sleep when rate is 0).
func pacer(start time.Time, rate float64) func(i int) {
	return func(i int) {
		if rate <= 0 {
			return
		}
		if wait := time.Until(start.Add(time.Duration(float64(i) / rate * 1e9))); wait > 0 {
			time.Sleep(wait)
		}
	}
}

func publish(cfg *Config, pub Publish) (publishResult, error) {
	switch pub.Mode {
	case "nats":
		return publishNats(cfg, pub)
	case "api":
		return publishAPI(cfg, pub)
	case "none":
		return publishResult{Errors: map[string]int{}}, nil
	}
	return publishResult{}, fmt.Errorf("publish.mode must be nats, api or none, got %q", pub.Mode)
}

// publishNats puts events straight on the JetStream stream, as the API's outbox relay would.
func publishNats(cfg *Config, pub Publish) (publishResult, error) {
	res := publishResult{Errors: map[string]int{}, PerChannel: make([]int, len(cfg.Channels))}
	nc, err := nats.Connect(pub.NatsURL, nats.Name("bench-loadgen"))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pub.MaxInflight))
	if err != nil {
		return res, err
	}
	type parts struct{ before, after []byte }
	templates := make([]parts, len(cfg.Channels))
	for i, ch := range cfg.Channels {
		before, after, _ := strings.Cut(ch.Template, markerPlaceholder)
		templates[i] = parts{[]byte(before), []byte(after)}
	}
	start := time.Now()
	res.FirstNs = start.UnixNano()
	deadline := start.Add(time.Duration(pub.MaxSeconds * 1e9))
	pace := pacer(start, pub.Rate)
	buf := make([]byte, 0, 4096)
	for i := 0; i < pub.Count && time.Now().Before(deadline); i++ {
		pace(i)
		ch := i % len(cfg.Channels)
		buf = append(append(append(buf[:0], templates[ch].before...), marker()...), templates[ch].after...)
		if _, err := js.PublishAsync(cfg.Channels[ch].Subject, bytes.Clone(buf)); err != nil {
			res.Errors[err.Error()]++
			continue
		}
		res.Published++
		res.PerChannel[ch]++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		res.Errors["publish acks timed out"]++
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// publishAPI sends each message through POST /channels/{id}/messages, MaxInflight at a time.
func publishAPI(cfg *Config, pub Publish) (publishResult, error) {
	res := publishResult{Errors: map[string]int{}, PerChannel: make([]int, len(cfg.Channels))}
	// One client per channel's sender, as each user's app holds its own keep-alive connection.
	// A single shared pool reuses the most recently freed connection, so a few connections
	// carried most sends and, as SO_REUSEPORT balances connections and not requests, one API
	// worker took two thirds of them while the other idled.
	clients := make([]*http.Client, len(cfg.Channels))
	for i := range clients {
		clients[i] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 4, MaxConnsPerHost: pub.MaxInflight}}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	jobs := make(chan int, pub.MaxInflight)
	var mu sync.Mutex
	posts := make([]int32, 0, pub.Count)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < pub.MaxInflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range jobs {
				began := time.Now()
				status, err := post(clients[ch], pub.APIBase+cfg.Channels[ch].APIPath, cfg.Channels[ch].APIToken)
				took := int32(time.Since(began).Microseconds())
				mu.Lock()
				switch {
				case err != nil:
					res.Errors[err.Error()]++
				case status != http.StatusCreated:
					res.Errors["HTTP "+strconv.Itoa(status)]++
				default:
					res.PerChannel[ch]++
					posts = append(posts, took)
				}
				mu.Unlock()
				if err == nil && status == http.StatusCreated {
					ok.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	res.FirstNs = start.UnixNano()
	deadline := start.Add(time.Duration(pub.MaxSeconds * 1e9))
	pace := pacer(start, pub.Rate)
	for i := 0; i < pub.Count && time.Now().Before(deadline); i++ {
		pace(i)
		jobs <- i % len(cfg.Channels)
	}
	close(jobs)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Published = int(ok.Load())
	res.APIPost = summarize(posts)
	return res, nil
}

func post(client *http.Client, url, token string) (int, error) {
	body := `{"content":"` + marker() + `"}`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %T", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
