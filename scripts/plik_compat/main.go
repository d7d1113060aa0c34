// Command plik-compat is a small stand-in for a Plik file server
// (github.com/root-gg/plik) implementing the subset of its HTTP API that
// upload/download clients use. See README.md for scope and differences.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	dataDir := flag.String("data-dir", "", "directory holding uploaded file data and metadata (DIR/meta); uploads found there are served again after a restart (default: a temporary directory removed at exit)")
	defaultTTL := flag.Int("default-ttl", 86400, "TTL in seconds for uploads created with ttl 0/absent (0 = never expire)")
	maxTTL := flag.Int("max-ttl", 0, "maximum TTL in seconds (0 = unlimited)")
	token := flag.String("token", "", "when set, creating an upload requires header X-PlikToken with this value (Plik FeatureAuthentication=forced)")
	maxFileSize := flag.Int64("max-file-size", 0, "maximum file size in bytes (0 = unlimited)")
	sweepInterval := flag.Int("sweep-interval", 60, "seconds between sweeps deleting expired uploads from disk (0 = no sweeper)")
	legacyRedirect := flag.Bool("legacy-redirect", false, "mimic Plik <= 1.3.x: errors on download routes are 301 redirects to /#/?err=... unless the User-Agent is a known CLI")
	logRequests := flag.Bool("log-requests", false, "log every request to stderr")
	flag.Parse()
	log.SetPrefix("plik-compat: ")
	log.SetOutput(os.Stderr)

	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "plik-compat-")
		if err != nil {
			log.Printf("unable to create temporary data dir: %v", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}

	srv, err := NewServer(Config{
		DataDir:        dir,
		DefaultTTL:     *defaultTTL,
		MaxTTL:         *maxTTL,
		Token:          *token,
		MaxFileSize:    *maxFileSize,
		LegacyRedirect: *legacyRedirect,
		LogRequests:    *logRequests,
		// An explicit data dir keeps metadata beside the data, like Plik's
		// metadata database; the temporary one is thrown away anyway.
		Persist: *dataDir != "",
	})
	if err != nil {
		log.Printf("invalid configuration: %v", err)
		return 2
	}
	defer srv.Close()
	srv.StartSweeper(time.Duration(*sweepInterval) * time.Second)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Printf("unable to listen on %s: %v", *listen, err)
		return 1
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	fmt.Fprintf(os.Stdout, "PLIK_COMPAT_LISTENING http://%s\n", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
	_ = os.Stdout.Sync()

	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	select {
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("server error: %v", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		_ = httpSrv.Close()
	}
	return 0
}
