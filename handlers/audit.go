package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// AuditLogService reads the audit log (identity.AuditLog).
type AuditLogService interface {
	Query(ctx context.Context, f models.AuditFilter, limit int) (*identity.AuditQueryPage, error)
	Export(ctx context.Context, a identity.Actor, f models.AuditFilter, format string, fn func(*models.AuditLog) error) error
}

// auditRecordView is one audit row as the audit API shows it.
type auditRecordView struct {
	ID        string         `json:"id"`
	TenantID  *string        `json:"tenant_id"`
	UserID    *string        `json:"user_id"`
	ActorID   string         `json:"actor_id"`
	Action    string         `json:"action"`
	IPAddress string         `json:"ip_address"`
	UserAgent string         `json:"user_agent"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
}

func viewAuditRecord(a *models.AuditLog) auditRecordView {
	return auditRecordView{ID: a.ID, TenantID: a.TenantID, UserID: a.UserID, ActorID: a.ActorID, Action: a.Action,
		IPAddress: a.IPAddress, UserAgent: a.UserAgent, Metadata: decodeMetadata(a.Metadata), CreatedAt: a.CreatedAt.UTC()}
}

// auditFilter reads actor, action, from, to (RFC 3339) and cursor.
func auditFilter(c echo.Context) (models.AuditFilter, error) {
	f := models.AuditFilter{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: strings.TrimSpace(c.QueryParam("action"))}
	bad := map[string]string{}
	for _, name := range []string{"from", "to"} {
		v := c.QueryParam(name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad[name] = "Use an RFC 3339 time, such as 2025-01-31T08:00:00Z."
			continue
		}
		if name == "from" {
			f.From = t.UTC()
		} else {
			f.To = t.UTC()
		}
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		t, id, err := identity.DecodeAuditCursor(cur)
		if err != nil {
			bad["cursor"] = "Use the next_cursor of the previous page."
		}
		f.BeforeTime, f.BeforeID = t, id
	}
	if len(bad) > 0 {
		return f, models.ErrInvalid(bad)
	}
	return f, nil
}

func (s *Server) auditPage(c echo.Context, f models.AuditFilter) error {
	limit, err := pageLimit(c, 50)
	if err != nil {
		return err
	}
	page, err := s.AuditLog.Query(c.Request().Context(), f, limit)
	if err != nil {
		return err
	}
	items := make([]auditRecordView, len(page.Items))
	for i := range page.Items {
		items[i] = viewAuditRecord(&page.Items[i])
	}
	body := map[string]any{"items": items, "next_cursor": nil}
	if page.NextCursor != "" {
		body["next_cursor"] = page.NextCursor
	}
	return c.JSON(http.StatusOK, body)
}

// apiAudit is the tenant's audit log, newest first, keyset-paginated.
func (s *Server) apiAudit(c echo.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.TenantID = principal(c).TenantID
	return s.auditPage(c, f)
}

// adminAudit is every tenant's audit log; tenant_id narrows it to one.
func (s *Server) adminAudit(c echo.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	if tid := c.QueryParam("tenant_id"); tid != "" {
		if !identity.IsUUID(tid) {
			return models.ErrInvalid(map[string]string{"tenant_id": "Use a tenant id."})
		}
		f.TenantID = tid
	}
	return s.auditPage(c, f)
}

// csvColumns are the columns of a CSV export, in order.
var csvColumns = []string{"id", "created_at", "tenant_id", "user_id", "actor_id", "action", "ip_address", "user_agent", "metadata"}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// apiAuditExport streams the tenant's audit log as CSV or a JSON array:
// each row is written as storage reads it, so memory stays flat however
// large the log. The export itself is audited (it is a danger action).
func (s *Server) apiAuditExport(c echo.Context) error {
	format := c.QueryParam("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		return models.ErrInvalid(map[string]string{"format": "Use csv or json."})
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	if f.BeforeID != "" {
		return models.ErrInvalid(map[string]string{"cursor": "An export has no pages."})
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p := a.Principal
	f.TenantID = p.TenantID
	ctx := c.Request().Context()
	w := c.Response()
	// A large export may outlast the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})

	var (
		started bool
		n       int
		cw      *csv.Writer
		enc     *json.Encoder
	)
	start := func() error {
		started = true
		h := w.Header()
		setAttachment(h, exportFilename("audit", p.TenantID, s.Now(), format))
		if format == "csv" {
			h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			cw = csv.NewWriter(w)
			return cw.Write(csvColumns)
		}
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSONCharsetUTF8)
		w.WriteHeader(http.StatusOK)
		enc = json.NewEncoder(w)
		_, err := w.Write([]byte("[\n"))
		return err
	}
	row := func(a *models.AuditLog) error {
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		n++
		if format == "csv" {
			if err := cw.Write([]string{a.ID, a.CreatedAt.UTC().Format(time.RFC3339Nano), deref(a.TenantID), deref(a.UserID),
				csvCell(a.ActorID), csvCell(a.Action), csvCell(a.IPAddress), csvCell(a.UserAgent), csvCell(a.Metadata)}); err != nil {
				return err
			}
		} else {
			if n > 1 {
				if _, err := w.Write([]byte(",")); err != nil {
					return err
				}
			}
			if err := enc.Encode(viewAuditRecord(a)); err != nil {
				return err
			}
		}
		if n%flushEvery == 0 {
			if cw != nil {
				cw.Flush()
				if err := cw.Error(); err != nil {
					return err
				}
			}
			w.Flush()
		}
		return nil
	}
	err = s.AuditLog.Export(ctx, a, f, format, row)
	if err != nil {
		if started {
			// The status is sent: cut the body short (a JSON export is then
			// not valid JSON, so a reader notices) and log the cause.
			s.Logger.ErrorContext(ctx, "audit export interrupted", "rows", n, "err", err)
			if cw != nil {
				cw.Flush()
			}
			return nil
		}
		return err
	}
	if !started {
		if err := start(); err != nil {
			return nil
		}
	}
	if cw != nil {
		cw.Flush()
	} else {
		_, _ = w.Write([]byte("]\n"))
	}
	w.Flush()
	return nil
}
