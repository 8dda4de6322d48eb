// Package natsbus connects the services to NATS: an embedded nats-server for the single-machine
// mode, or an external server or cluster in production, and the JetStream streams they use.
package natsbus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures the nats-server that runs inside the all-in-one process.
type EmbeddedConfig struct {
	// StoreDir is where JetStream keeps its file store; it survives restarts.
	StoreDir string
	// Listen is host:port for clients outside the process (admins, other systems).
	// Empty means no network listener: only in-process connections.
	Listen string
	// ServerName names the server in logs and monitoring.
	ServerName string
	// ReadyTimeout bounds how long start-up waits for the server (default 10s).
	ReadyTimeout time.Duration
}

// StartEmbedded starts a JetStream-enabled nats-server with a file store and waits until it
// accepts connections. The caller shuts it down with Shutdown and WaitForShutdown.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded nats: store directory is required")
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	name := cfg.ServerName
	if name == "" {
		name = "dormant-embedded"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen address %q: %w", cfg.Listen, err)
		}
		if port == 0 {
			// nats-server reads 0 as its default port 4222; -1 asks for a free one.
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(cfg.ReadyTimeout) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after %s (is %s already in use?)", cfg.ReadyTimeout, cfg.Listen)
	}
	return s, nil
}

// ConnectInProcess connects to an embedded server without a socket.
func ConnectInProcess(s *server.Server, name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.InProcessServer(s)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, port, nil
}
