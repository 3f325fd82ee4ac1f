// Command resource-server is a small API protected by identityd: GET
// /api/orders needs an access token granted orders.read, POST /api/orders
// one granted orders.write. Opaque tokens are introspected (as the client
// RS_CLIENT_ID), JWT access tokens checked against identityd's keys.
//
//	IDENTITY_ISSUER=http://localhost:8000 RS_AUDIENCE=https://orders.example \
//	RS_CLIENT_ID=orders-api RS_CLIENT_SECRET_FILE=rs.secret go run ./examples/go-resource-server/cmd/resource-server
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	resourceserver "github.com/identityd/identityd/examples/go-resource-server"
)

func main() {
	if err := run(); err != nil {
		slog.Error("resource server", "err", err)
		os.Exit(1)
	}
}

func run() error {
	issuer := strings.TrimSuffix(env("IDENTITY_ISSUER", "http://localhost:8000"), "/")
	addr := env("RS_ADDR", "127.0.0.1:8080")
	secret, err := clientSecret()
	if err != nil {
		return err
	}
	tokens := &resourceserver.Tokens{}
	if id := os.Getenv("RS_CLIENT_ID"); id != "" {
		tokens.Introspection = &resourceserver.Introspector{
			URL: issuer + "/api/oauth/introspect", ClientID: id, ClientSecret: secret,
			Audience: os.Getenv("RS_INTROSPECTION_AUDIENCE"),
		}
	}
	if aud := os.Getenv("RS_AUDIENCE"); aud != "" {
		tokens.JWT = &resourceserver.JWTVerifier{Issuer: issuer, Audience: aud}
	}
	if tokens.Introspection == nil && tokens.JWT == nil {
		return errors.New("set RS_CLIENT_ID (and RS_CLIENT_SECRET or RS_CLIENT_SECRET_FILE) to accept opaque tokens, RS_AUDIENCE to accept JWT access tokens, or both")
	}

	srv := &http.Server{Addr: addr, Handler: Routes(tokens), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("resource server listening", "addr", addr, "issuer", issuer)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// Routes is the API: the orders, each route with the scope it needs.
func Routes(v resourceserver.Validator) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/orders", resourceserver.Require(v, "orders.read", http.HandlerFunc(listOrders)))
	mux.Handle("POST /api/orders", resourceserver.Require(v, "orders.write", http.HandlerFunc(createOrder)))
	return mux
}

func listOrders(w http.ResponseWriter, r *http.Request) {
	p, _ := resourceserver.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"orders": []string{"order-1", "order-2"}, "caller": p.Subject, "client_id": p.ClientID})
}

func createOrder(w http.ResponseWriter, r *http.Request) {
	p, _ := resourceserver.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusCreated, map[string]any{"order": "order-3", "caller": p.Subject})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clientSecret reads RS_CLIENT_SECRET_FILE, else RS_CLIENT_SECRET.
func clientSecret() (string, error) {
	if f := os.Getenv("RS_CLIENT_SECRET_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read RS_CLIENT_SECRET_FILE: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv("RS_CLIENT_SECRET"), nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
