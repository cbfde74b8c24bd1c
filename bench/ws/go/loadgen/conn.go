package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

var (
	markerPrefix  = []byte("bench:")
	gochatReady   = []byte(`"t":"READY"`)
	gochatHello   = []byte(`{"op":10,`)
	helloInterval = []byte(`"heartbeat_interval":`)
)

// conn is one client connection: one reader goroutine, writes under a mutex (heartbeats and
// the anchor's pongs come from different goroutines).
type conn struct {
	ws       *websocket.Conn
	channel  int
	writeMu  sync.Mutex
	open     atomic.Bool
	ready    chan struct{}
	readyOne sync.Once
	closeErr atomic.Value // string
	stats    *stats
}

func (c *conn) write(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

func dial(ctx context.Context, cfg *Config, client Client, st *stats) (*conn, error) {
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096,
		WriteBufferSize: 1024}
	url := cfg.URL
	if cfg.Target == "gochat" {
		url += "?token=" + client.Token // identify by query parameter: no IDENTIFY round trip
	}
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("handshake status %d", resp.StatusCode)
		}
		return nil, err
	}
	c := &conn{ws: ws, channel: client.Channel, ready: make(chan struct{}), stats: st}
	c.open.Store(true)
	go c.read(cfg.Target)
	if cfg.Target == "anchor" {
		connect := fmt.Sprintf(`{"id":1,"connect":{"data":{"channel":%q}}}`, cfg.Channels[client.Channel].Name)
		if err := c.write([]byte(connect)); err != nil {
			ws.Close()
			return nil, err
		}
	}
	select {
	case <-c.ready:
		return c, nil
	case <-ctx.Done():
		ws.Close()
		if reason, ok := c.closeErr.Load().(string); ok {
			return nil, fmt.Errorf("closed before ready: %s", reason)
		}
		return nil, fmt.Errorf("not ready in time")
	}
}

func (c *conn) markReady() { c.readyOne.Do(func() { close(c.ready) }) }

func (c *conn) read(target string) {
	defer c.open.Store(false)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.closeErr.Store(closeReason(err))
			return
		}
		now := time.Now().UnixNano()
		if target == "gochat" {
			c.gochatFrame(data, now)
		} else {
			c.anchorFrames(data, now)
		}
	}
}

func (c *conn) gochatFrame(data []byte, now int64) {
	if bytes.Contains(data, markerPrefix) {
		c.count(data, now)
		return
	}
	if bytes.Contains(data, gochatReady) { // READY also carries heartbeat_interval: first
		c.markReady()
	} else if bytes.HasPrefix(data, gochatHello) {
		if i := bytes.Index(data, helloInterval); i >= 0 {
			if ms, _ := leadingInt(data[i+len(helloInterval):]); ms > 0 {
				go c.heartbeat(time.Duration(ms) * time.Millisecond)
			}
		}
	}
}

// anchorFrames handles centrifuge's JSON protocol: one message may hold several replies,
// newline-separated; an empty object is a ping that wants an empty object back.
func (c *conn) anchorFrames(data []byte, now int64) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		switch {
		case bytes.Equal(line, []byte("{}")):
			go func() { _ = c.write([]byte("{}")) }()
		case bytes.Contains(line, markerPrefix):
			c.count(line, now)
		case bytes.HasPrefix(line, []byte(`{"id":1,`)):
			if bytes.Contains(line, []byte(`"error"`)) {
				c.closeErr.Store("connect refused: " + string(line))
				c.ws.Close()
				return
			}
			c.markReady()
		}
	}
}

// count records every marker in data as one delivery with its latency.
func (c *conn) count(data []byte, now int64) {
	for {
		i := bytes.Index(data, markerPrefix)
		if i < 0 {
			return
		}
		data = data[i+len(markerPrefix):]
		sent, n := leadingInt(data)
		data = data[n:]
		c.stats.delivered(now, now-sent)
	}
}

func (c *conn) heartbeat(interval time.Duration) {
	// Well inside the server's 1.5-interval timeout, spread so 10k clients do not beat at once.
	period := interval * 7 / 10
	time.Sleep(time.Duration(time.Now().UnixNano() % int64(period)))
	for c.open.Load() {
		if err := c.write([]byte(`{"op":1,"d":null}`)); err != nil {
			return
		}
		time.Sleep(period)
	}
}

func leadingInt(b []byte) (int64, int) {
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	v, _ := strconv.ParseInt(string(b[:n]), 10, 64)
	return v, n
}

func closeReason(err error) string {
	if ce, ok := err.(*websocket.CloseError); ok {
		return fmt.Sprintf("close %d", ce.Code)
	}
	return "read error"
}
