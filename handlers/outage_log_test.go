package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/require"
)

// TestLogOAuth5xxClientGone: a request its client abandoned is no server
// error in the log (a load tool stopping mid-request logged 500s); a real
// server error still is.
func TestLogOAuth5xxClientGone(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := &Server{Deps: Deps{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	s.logOAuth5xx(gone, fosite.ErrServerError.WithWrap(context.Canceled))
	require.NotContains(t, buf.String(), "level=ERROR")
	require.Contains(t, buf.String(), "abandoned by the client")

	buf.Reset()
	s.logOAuth5xx(context.Background(), fosite.ErrServerError.WithWrap(errors.New("disk on fire")))
	require.Contains(t, buf.String(), "level=ERROR")
	require.Contains(t, buf.String(), "oauth server error")

	buf.Reset()
	s.logOAuth5xx(context.Background(), fosite.ErrInvalidClient)
	require.Empty(t, buf.String(), "a 4xx is not logged here")
}
