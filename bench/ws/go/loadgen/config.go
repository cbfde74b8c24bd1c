package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Config is what the Python driver writes for one run (one target, one load).
type Config struct {
	Target             string    `json:"target"` // "gochat" or "anchor"
	URL                string    `json:"url"`    // ws://127.0.0.1:PORT/...
	Clients            []Client  `json:"clients"`
	Channels           []Channel `json:"channels"`
	ConnectConcurrency int       `json:"connect_concurrency"`
	ConnectTimeoutS    float64   `json:"connect_timeout_s"`
	DrainS             float64   `json:"drain_s"` // wait this long at most for the last deliveries
	MaxSamples         int       `json:"max_samples"`
}

// Client is one WebSocket connection: the gateway wants a token, the anchor a channel name.
type Client struct {
	Token   string `json:"token,omitempty"`
	Channel int    `json:"channel"`
}

// Channel says how to send to channel i, for each publish mode.
type Channel struct {
	Name     string `json:"name"`     // the anchor's channel name
	Subject  string `json:"subject"`  // JetStream subject for mode "nats"
	Template string `json:"template"` // NATS payload; __BENCH__ is replaced by the marker
	APIPath  string `json:"api_path"` // POST path for mode "api"
	APIToken string `json:"api_token"`
}

// Publish is the load: Count messages at Rate per second (0: as fast as MaxInflight allows),
// round-robin over the channels, stopped after MaxSeconds whatever happens.
type Publish struct {
	Mode        string  `json:"mode"` // "nats", "api" or "none"
	NatsURL     string  `json:"nats_url"`
	APIBase     string  `json:"api_base"`
	Count       int     `json:"count"`
	Rate        float64 `json:"rate"`
	MaxInflight int     `json:"max_inflight"`
	MaxSeconds  float64 `json:"max_seconds"`
}

func loadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Target != "gochat" && cfg.Target != "anchor" {
		return nil, fmt.Errorf("config: target must be gochat or anchor, got %q", cfg.Target)
	}
	if err := loopbackOnly(cfg.URL); err != nil {
		return nil, err
	}
	for i, c := range cfg.Clients {
		if c.Channel < 0 || c.Channel >= len(cfg.Channels) {
			return nil, fmt.Errorf("config: clients[%d].channel: no channel %d", i, c.Channel)
		}
	}
	if cfg.ConnectConcurrency <= 0 {
		cfg.ConnectConcurrency = 100
	}
	if cfg.ConnectTimeoutS <= 0 {
		cfg.ConnectTimeoutS = 300
	}
	if cfg.DrainS <= 0 || cfg.DrainS > 300 {
		cfg.DrainS = 30
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = 2_000_000
	}
	return &cfg, nil
}

func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("only 127.0.0.1 targets, got %q", raw)
	}
	return nil
}

// checkPublish bounds one publish command and refuses anything but loopback targets.
func checkPublish(cfg *Config, pub *Publish) error {
	if pub.Count < 0 || pub.Count > 10_000_000 {
		return fmt.Errorf("publish.count must be in [0, 10000000]")
	}
	if pub.MaxSeconds <= 0 || pub.MaxSeconds > 600 {
		pub.MaxSeconds = 120
	}
	if pub.MaxInflight <= 0 || pub.MaxInflight > 4096 {
		pub.MaxInflight = 256
	}
	switch pub.Mode {
	case "nats":
		for i := range cfg.Channels {
			if !strings.Contains(cfg.Channels[i].Template, markerPlaceholder) {
				return fmt.Errorf("channels[%d].template lacks %s", i, markerPlaceholder)
			}
		}
		return loopbackOnly(pub.NatsURL)
	case "api":
		return loopbackOnly(pub.APIBase)
	}
	return nil
}
