package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
)

// Tracing (issue 11 §7): a span for every database call and every Redis
// call made inside a trace. Neither is installed unless tracing is on (no
// cost when off). Spans never carry a value: the SQL text is the
// statement with its placeholders (no query variables: those are token
// signatures, hashes, e-mail addresses), and a Redis span names the
// command only (no key or argument).

// gormTracingPlugin is the name the database spans register under.
const gormTracingPlugin = "identityd:tracing"

// EnableTracing registers GORM callbacks that wrap every query, create,
// update, delete, row and raw call in a client span named for the
// operation and table ("SELECT clients"), with db.system.name,
// db.query.text (the statement with its placeholders) and the rows
// affected. tp should start a span only under a parent
// (telemetry.RequireParent), so the worker's idle polls are not traces of
// their own. Call it once, before serving.
//
// Why not gorm.io/plugin/opentelemetry: its tracing package imports the
// ClickHouse and MySQL drivers (to name the database system), which would
// add both drivers and their dependencies to the binary for these few
// callbacks.
func (s *Store) EnableTracing(tp trace.TracerProvider) error {
	if err := s.gdb.Use(&gormTracing{tracer: tp.Tracer("identityd/storage"), system: s.dialect}); err != nil {
		return fmt.Errorf("database tracing: %w", err)
	}
	return nil
}

// Traced reports whether EnableTracing installed the database spans.
func (s *Store) Traced() bool {
	_, ok := s.gdb.Config.Plugins[gormTracingPlugin]
	return ok
}

// gormTracing is the GORM plugin of EnableTracing.
type gormTracing struct {
	tracer trace.Tracer
	system Dialect
}

func (p *gormTracing) Name() string { return gormTracingPlugin }

// spanCtx restores the statement's own context after the call: the span
// lives only from the before to the after callback.
type spanCtx struct {
	context.Context
	parent context.Context
}

func (p *gormTracing) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	type reg interface {
		Register(name string, fn func(*gorm.DB)) error
	}
	hooks := []struct {
		r    reg
		name string
		fn   func(*gorm.DB)
	}{
		{cb.Create().Before("gorm:create"), "before:create", p.before("INSERT")},
		{cb.Create().After("gorm:create"), "after:create", p.after},
		{cb.Query().Before("gorm:query"), "before:query", p.before("SELECT")},
		{cb.Query().After("gorm:query"), "after:query", p.after},
		{cb.Update().Before("gorm:update"), "before:update", p.before("UPDATE")},
		{cb.Update().After("gorm:update"), "after:update", p.after},
		{cb.Delete().Before("gorm:delete"), "before:delete", p.before("DELETE")},
		{cb.Delete().After("gorm:delete"), "after:delete", p.after},
		{cb.Row().Before("gorm:row"), "before:row", p.before("")},
		{cb.Row().After("gorm:row"), "after:row", p.after},
		{cb.Raw().Before("gorm:raw"), "before:raw", p.before("")},
		{cb.Raw().After("gorm:raw"), "after:raw", p.after},
	}
	for _, h := range hooks {
		if err := h.r.Register("identityd:tracing:"+h.name, h.fn); err != nil {
			return fmt.Errorf("register %s: %w", h.name, err)
		}
	}
	return nil
}

func (p *gormTracing) before(op string) func(*gorm.DB) {
	return func(tx *gorm.DB) {
		parent := tx.Statement.Context
		if parent == nil {
			return
		}
		name := op
		if name == "" {
			name = "SQL"
		}
		if t := tx.Statement.Table; t != "" {
			name += " " + t
		}
		ctx, span := p.tracer.Start(parent, name, trace.WithSpanKind(trace.SpanKindClient))
		if span.IsRecording() {
			tx.Statement.Context = spanCtx{ctx, parent}
		}
	}
}

func (p *gormTracing) after(tx *gorm.DB) {
	c, ok := tx.Statement.Context.(spanCtx)
	if !ok {
		return
	}
	tx.Statement.Context = c.parent
	span := trace.SpanFromContext(c.Context)
	query := tx.Statement.SQL.String()
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", p.system.otelName()),
		attribute.String("db.query.text", query),
	}
	if op, _, _ := strings.Cut(strings.TrimSpace(query), " "); op != "" {
		attrs = append(attrs, attribute.String("db.operation.name", strings.ToUpper(op)))
	}
	if t := tx.Statement.Table; t != "" {
		attrs = append(attrs, attribute.String("db.collection.name", t))
	}
	if tx.Statement.RowsAffected >= 0 {
		attrs = append(attrs, attribute.Int64("db.response.rows_affected", tx.Statement.RowsAffected))
	}
	span.SetAttributes(attrs...)
	if err := tx.Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, sql.ErrNoRows) {
		// The error's type only: a driver's message may quote a value.
		span.SetStatus(codes.Error, fmt.Sprintf("%T", err))
	}
	span.End()
}

// EnableTracing adds the OpenTelemetry hook to the Redis client (the
// cache's, the rate limiter's and the lookup-cache generation's: one
// client): a span per command or pipeline, without the statement. Call it
// once, before serving.
func (c *RedisCache) EnableTracing(tp trace.TracerProvider) error {
	if err := redisotel.InstrumentTracing(c.rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false)); err != nil {
		return fmt.Errorf("redis tracing: %w", err)
	}
	c.traced = true
	return nil
}

// Traced reports whether EnableTracing installed the Redis spans.
func (c *RedisCache) Traced() bool { return c.traced }

// otelName is the database's db.system.name (OpenTelemetry semantic
// conventions).
func (d Dialect) otelName() string {
	if d == Postgres {
		return "postgresql"
	}
	return string(d)
}
