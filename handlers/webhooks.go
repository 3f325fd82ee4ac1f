package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// WebhookService is the tenant's webhooks (identity.Webhooks, issue 11
// §3). Another tenant's webhook is NotFound.
type WebhookService interface {
	Create(ctx context.Context, a identity.Actor, in identity.WebhookInput) (*identity.WebhookWithSecret, error)
	List(ctx context.Context, tenantID string, page, perPage int) (*identity.WebhookPage, error)
	Get(ctx context.Context, tenantID, id string) (*models.Webhook, error)
	Update(ctx context.Context, a identity.Actor, id string, p identity.WebhookPatch) (*models.Webhook, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
	RotateSecret(ctx context.Context, a identity.Actor, id string) (*identity.WebhookWithSecret, error)
	Deliveries(ctx context.Context, tenantID, id string, page, perPage int) (*identity.DeliveryPage, error)
	Test(ctx context.Context, a identity.Actor, id string) (*models.WebhookDelivery, error)
}

// webhookView is a webhook as the API shows it: never its secret.
type webhookView struct {
	ID                  string     `json:"id"`
	URL                 string     `json:"url"`
	Description         string     `json:"description"`
	EventTypes          []string   `json:"event_types"`
	Enabled             bool       `json:"enabled"`
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	DisabledAt          *time.Time `json:"disabled_at,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func viewWebhook(w *models.Webhook) webhookView {
	types := []string(w.EventTypes)
	if types == nil {
		types = []string{}
	}
	return webhookView{ID: w.ID, URL: w.URL, Description: w.Description, EventTypes: types, Enabled: w.Enabled,
		DisabledReason: w.DisabledReason, DisabledAt: w.DisabledAt, ConsecutiveFailures: w.ConsecutiveFailures,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

// webhookWithSecret is the answer of a creation or rotation: the secret
// is shown this once.
type webhookWithSecret struct {
	webhookView
	Secret string `json:"secret"`
}

type attemptView struct {
	Attempt    int       `json:"attempt"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
	At         time.Time `json:"at"`
}

type deliveryView struct {
	ID             string        `json:"id"`
	EventID        string        `json:"event_id"`
	EventType      string        `json:"event_type"`
	Status         string        `json:"status"`
	Attempts       int           `json:"attempts"`
	NextAttemptAt  *time.Time    `json:"next_attempt_at,omitempty"`
	LastStatusCode int           `json:"last_status_code,omitempty"`
	LastError      string        `json:"last_error,omitempty"`
	LastLatencyMS  int64         `json:"last_latency_ms"`
	CreatedAt      time.Time     `json:"created_at"`
	DeliveredAt    *time.Time    `json:"delivered_at,omitempty"`
	Log            []attemptView `json:"log"`
}

func viewDelivery(d *models.WebhookDelivery, attempts []models.WebhookAttempt) deliveryView {
	v := deliveryView{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Status: d.Status, Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, LastError: d.LastError, LastLatencyMS: d.LastLatencyMS, CreatedAt: d.CreatedAt,
		DeliveredAt: d.DeliveredAt, Log: make([]attemptView, 0, len(attempts))}
	if d.Status == models.DeliveryPending {
		next := d.NextAttemptAt
		v.NextAttemptAt = &next
	}
	for _, a := range attempts {
		v.Log = append(v.Log, attemptView{Attempt: a.Attempt, Outcome: a.Outcome, StatusCode: a.StatusCode, Error: a.Error,
			LatencyMS: a.LatencyMS, At: a.CreatedAt})
	}
	return v
}

func (s *Server) apiCreateWebhook(c echo.Context) error {
	var in struct {
		URL         string   `json:"url"`
		Description string   `json:"description"`
		EventTypes  []string `json:"event_types"`
		Enabled     *bool    `json:"enabled"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	w, err := s.Webhooks.Create(c.Request().Context(), a, identity.WebhookInput{URL: in.URL, Description: in.Description,
		EventTypes: in.EventTypes, Enabled: in.Enabled})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, webhookWithSecret{webhookView: viewWebhook(w.Webhook), Secret: w.Secret})
}

func (s *Server) apiListWebhooks(c echo.Context) error {
	fields := map[string]string{}
	page, perPage := parseIntParam(c, "page", fields), parseIntParam(c, "per_page", fields)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	p, err := s.Webhooks.List(c.Request().Context(), principal(c).TenantID, page, perPage)
	if err != nil {
		return err
	}
	out := make([]webhookView, 0, len(p.Webhooks))
	for k := range p.Webhooks {
		out = append(out, viewWebhook(&p.Webhooks[k]))
	}
	return c.JSON(http.StatusOK, map[string]any{"webhooks": out, "page": p.Page, "per_page": p.PerPage, "total": p.Total})
}

func (s *Server) apiGetWebhook(c echo.Context) error {
	w, err := s.Webhooks.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewWebhook(w))
}

func (s *Server) apiUpdateWebhook(c echo.Context) error {
	var in struct {
		URL         *string   `json:"url"`
		Description *string   `json:"description"`
		EventTypes  *[]string `json:"event_types"`
		Enabled     *bool     `json:"enabled"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	w, err := s.Webhooks.Update(c.Request().Context(), a, c.Param("id"), identity.WebhookPatch{URL: in.URL, Description: in.Description,
		EventTypes: in.EventTypes, Enabled: in.Enabled})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewWebhook(w))
}

func (s *Server) apiDeleteWebhook(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Webhooks.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRotateWebhookSecret(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	w, err := s.Webhooks.RotateSecret(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, webhookWithSecret{webhookView: viewWebhook(w.Webhook), Secret: w.Secret})
}

func (s *Server) apiWebhookDeliveries(c echo.Context) error {
	fields := map[string]string{}
	page, perPage := parseIntParam(c, "page", fields), parseIntParam(c, "per_page", fields)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	p, err := s.Webhooks.Deliveries(c.Request().Context(), principal(c).TenantID, c.Param("id"), page, perPage)
	if err != nil {
		return err
	}
	out := make([]deliveryView, 0, len(p.Deliveries))
	for k := range p.Deliveries {
		out = append(out, viewDelivery(&p.Deliveries[k], p.Attempts[p.Deliveries[k].ID]))
	}
	return c.JSON(http.StatusOK, map[string]any{"deliveries": out, "page": p.Page, "per_page": p.PerPage, "total": p.Total})
}

func (s *Server) apiTestWebhook(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	d, err := s.Webhooks.Test(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, viewDelivery(d, nil))
}
