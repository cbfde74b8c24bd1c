// Command anchor is the peer the GoChat gateway is measured against: a minimal WebSocket server
// on github.com/centrifugal/centrifuge (Centrifugo's engine). Each client names one channel in
// its connect command's data ({"channel": "..."}) and is subscribed to it server-side; events
// arrive the way they reach the gateway, from a JetStream stream through an ordered consumer,
// and each is published once to its channel (subject bench.anchor.<channel>).
//
// No authentication and no permission checks: the anchor is the ceiling for fan-out work alone.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	streamName    = "BENCH_ANCHOR"
	subjectPrefix = "bench.anchor."
)

type connectData struct {
	Channel string `json:"channel"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (loopback only)")
	natsURL := flag.String("nats", "nats://127.0.0.1:4222", "NATS URL")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || host != "127.0.0.1" {
		log.Fatalf("anchor: -addr must be 127.0.0.1:<port>, got %q", *addr)
	}

	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError,
		LogHandler: func(e centrifuge.LogEntry) { log.Printf("centrifuge: %s %v", e.Message, e.Fields) }})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		var data connectData
		if err := json.Unmarshal(e.Data, &data); err != nil || data.Channel == "" {
			return centrifuge.ConnectReply{}, centrifuge.DisconnectBadRequest
		}
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: e.ClientID},
			Subscriptions: map[string]centrifuge.SubscribeOptions{data.Channel: {}},
		}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	nc, err := nats.Connect(*natsURL, nats.Name("bench-anchor"))
	if err != nil {
		log.Fatalf("anchor: nats: %v", err)
	}
	defer nc.Close()
	if err := consume(ctx, nc, node); err != nil {
		log.Fatalf("anchor: jetstream: %v", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		ReadBufferSize: 1024, UseWriteBufferPool: true}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	server := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("anchor listening on %s", *addr)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdown)
	_ = node.Shutdown(shutdown)
}

// consume (re)creates the anchor's stream empty and publishes every new message to its channel.
func consume(ctx context.Context, nc *nats.Conn, node *centrifuge.Node) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_ = js.DeleteStream(ctx, streamName)
	// File storage, as GoChat's event stream: the same work per message on the NATS side.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: streamName,
		Subjects: []string{subjectPrefix + ">"}, Storage: jetstream.FileStorage,
		MaxBytes: 1 << 30}); err != nil {
		return err
	}
	consumer, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return err
	}
	_, err = consumer.Consume(func(msg jetstream.Msg) {
		channel := strings.TrimPrefix(msg.Subject(), subjectPrefix)
		if _, err := node.Publish(channel, msg.Data()); err != nil {
			log.Printf("anchor: publish %s: %v", channel, err)
		}
	})
	return err
}

func init() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
}
