package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// Webhooks (issue 11 §3): the tenant's HTTP receivers of its CloudEvents.
// The service manages them (each change one transaction with its audit
// row); the delivery worker (package webhook) sends the events and calls
// DisableForFailures when a receiver keeps failing.

// Audit actions of webhooks.
const (
	AuditWebhookCreated       = "webhook.created"
	AuditWebhookUpdated       = "webhook.updated"
	AuditWebhookDeleted       = "webhook.deleted"
	AuditWebhookSecretRotated = "webhook.secret_rotated"
	AuditWebhookDisabled      = "webhook.disabled"
)

// EventWebhookTest is the type of the event POST /api/webhooks/{id}/test
// sends to that one webhook.
const EventWebhookTest = "identity.webhook.test"

// WebhookDisabledByFailures is the disabled_reason the delivery worker
// sets; WebhookDisabledByAdmin is set when an administrator turns a
// webhook off.
const (
	WebhookDisabledByFailures = "too_many_failures"
	WebhookDisabledByAdmin    = "disabled_by_admin"
)

// webhookSecretPrefix starts every signing secret (the Standard Webhooks
// convention: "whsec_" + base64 of the key bytes).
const webhookSecretPrefix = "whsec_"

// Bounds of a webhook's fields.
const (
	maxWebhookURL         = 2000
	maxWebhookDescription = 500
	maxWebhookEventTypes  = 50
)

// WebhookStore is what Webhooks needs from storage. Every method takes the
// tenant; another tenant's webhook, or a malformed id, is
// models.ErrNotFound.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w *models.Webhook) error
	// ListWebhooks returns a page (oldest first) and the total.
	ListWebhooks(ctx context.Context, tenantID string, offset, limit int) ([]models.Webhook, int, error)
	GetWebhook(ctx context.Context, tenantID, id string) (*models.Webhook, error)
	// UpdateWebhook runs fn on the webhook under a row lock and saves it.
	UpdateWebhook(ctx context.Context, tenantID, id string, fn func(w *models.Webhook) error) (*models.Webhook, error)
	// DeleteWebhook deletes it with its deliveries.
	DeleteWebhook(ctx context.Context, tenantID, id string) error
	// DisableWebhook turns an enabled webhook off; false when it was off.
	DisableWebhook(ctx context.Context, tenantID, id, reason string) (bool, error)
	CreateWebhookDelivery(ctx context.Context, d *models.WebhookDelivery) error
	// ListWebhookDeliveries returns a page (newest first) and the total.
	ListWebhookDeliveries(ctx context.Context, tenantID, webhookID string, offset, limit int) ([]models.WebhookDelivery, int, error)
	ListWebhookAttempts(ctx context.Context, tenantID string, deliveryIDs []string) (map[string][]models.WebhookAttempt, error)
}

// WebhookOwnerLookup finds the tenant's Owners, who are told when a
// webhook is disabled.
type WebhookOwnerLookup interface {
	UsersWithRole(ctx context.Context, tenantID, roleName string) ([]string, error)
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
}

// Webhooks manages a tenant's webhooks.
type Webhooks struct {
	store        WebhookStore
	owners       WebhookOwnerLookup
	tx           Tx
	audit        Auditor
	sealer       Sealer
	mailer       Mailer
	allowPrivate bool
	issuer       string
	now          func() time.Time
	log          *slog.Logger
}

// WebhooksDeps are what NewWebhooks needs. AllowPrivate
// (IDENTITY_WEBHOOK_ALLOW_PRIVATE) accepts http:// URLs and private,
// loopback and link-local targets; Issuer is the link in the disabled
// notice; Now and Log are optional.
type WebhooksDeps struct {
	Store        WebhookStore
	Owners       WebhookOwnerLookup
	Tx           Tx
	Auditor      Auditor
	Sealer       Sealer
	Mailer       Mailer
	AllowPrivate bool
	Issuer       string
	Now          func() time.Time
	Log          *slog.Logger
}

// NewWebhooks checks d and returns the service.
func NewWebhooks(d WebhooksDeps) (*Webhooks, error) {
	if err := checkDeps("Webhooks", dep{"Store", d.Store == nil}, dep{"Owners", d.Owners == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Sealer", d.Sealer == nil}, dep{"Mailer", d.Mailer == nil}); err != nil {
		return nil, err
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{store: d.Store, owners: d.Owners, tx: d.Tx, audit: d.Auditor, sealer: d.Sealer, mailer: d.Mailer,
		allowPrivate: d.AllowPrivate, issuer: d.Issuer, now: clockOr(d.Now), log: log}, nil
}

// WebhookSecretAAD binds a webhook's sealed secret to its id.
func WebhookSecretAAD(id string) []byte { return []byte("webhook:" + id) }

// WebhookKey is the HMAC key of a secret "whsec_<base64>": the decoded
// bytes (the Standard Webhooks rule).
func WebhookKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, webhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook secret: no %s prefix", webhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	return key, nil
}

// newWebhookSecret makes a secret (32 bytes from crypto/rand) and seals it
// for webhook id.
func (s *Webhooks) newWebhookSecret(id string) (string, []byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", nil, models.ErrInternal(fmt.Errorf("webhook secret: %w", err))
	}
	secret := webhookSecretPrefix + base64.StdEncoding.EncodeToString(key)
	sealed, err := s.sealer.Seal([]byte(secret), WebhookSecretAAD(id))
	if err != nil {
		return "", nil, models.ErrInternal(fmt.Errorf("seal webhook secret: %w", err))
	}
	return secret, sealed, nil
}

// WebhookInput is a new webhook. EventTypes empty: every event.
type WebhookInput struct {
	URL         string
	Description string
	EventTypes  []string
	// Enabled defaults to true.
	Enabled *bool
}

// WebhookPatch changes the fields it sets. Enabled true re-enables a
// disabled webhook and resets its failure count.
type WebhookPatch struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	Enabled     *bool
}

// WebhookWithSecret is a created or rotated webhook with its secret,
// shown this once.
type WebhookWithSecret struct {
	Webhook *models.Webhook
	Secret  string
}

var eventTypeRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?$`)

// checkEventTypes validates a subscription list into fields.
func checkEventTypes(fields map[string]string, in []string) models.StringList {
	out := models.StringList{}
	seen := map[string]bool{}
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 || (t != "*" && !eventTypeRE.MatchString(t)) {
			fields["event_types"] = "Use event types such as identity.user.created, or patterns such as identity.user.*."
			return out
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > maxWebhookEventTypes {
		fields["event_types"] = fmt.Sprintf("Use at most %d event types.", maxWebhookEventTypes)
	}
	return out
}

// checkWebhookURL validates a target URL: absolute http(s), no user
// information or fragment, https unless private targets are allowed, and
// no literal private, loopback or link-local address (nor localhost)
// unless they are. A name's resolved address is checked again at connect
// time by the delivery worker.
func (s *Webhooks) checkWebhookURL(fields map[string]string, raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case raw == "" || len(raw) > maxWebhookURL || err != nil || clientHasControl(raw):
		fields["url"] = fmt.Sprintf("Use an absolute https URL of at most %d characters.", maxWebhookURL)
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		fields["url"] = "Use an absolute https URL."
	case u.User != nil:
		fields["url"] = "The URL must not carry a user name or password."
	case u.Fragment != "" || strings.Contains(raw, "#"):
		fields["url"] = "The URL must not have a fragment."
	case u.Scheme == "http" && !s.allowPrivate:
		fields["url"] = "Use https."
	case !s.allowPrivate && forbiddenHost(u.Hostname()):
		fields["url"] = "The URL points at a private, loopback or link-local address, which webhooks may not reach."
	}
	return raw
}

// forbiddenHost reports whether host is a literal forbidden address or a
// localhost name.
func forbiddenHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ForbiddenWebhookAddr(ip)
	}
	// An IPv4 address in a form netip refuses (0x7f.1, 2130706433) is
	// still one to a resolver: refuse what net.ParseIP or the shorthand
	// forms would read as a forbidden address.
	if ip := net.ParseIP(h); ip != nil {
		a, _ := netip.AddrFromSlice(ip)
		return ForbiddenWebhookAddr(a)
	}
	return looksNumeric(h)
}

// looksNumeric reports whether host is made of digits, dots and hex
// prefixes only: a numeric address form the URL parser leaves as a name.
func looksNumeric(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if !(r >= '0' && r <= '9' || r == '.' || r == 'x' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return strings.IndexFunc(h, func(r rune) bool { return r >= '0' && r <= '9' }) == 0
}

var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// ForbiddenWebhookAddr reports whether a webhook may not connect to ip:
// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
// (169.254/16, fe80::/10), CGNAT (100.64/10), unspecified, multicast,
// 0.0.0.0/8, the benchmarking and reserved ranges, NAT64, and the
// IPv4-mapped IPv6 forms of all of them.
func ForbiddenWebhookAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Create registers a webhook for the principal's tenant and returns it
// with its secret, shown this once.
func (s *Webhooks) Create(ctx context.Context, a Actor, in WebhookInput) (*WebhookWithSecret, error) {
	fields := map[string]string{}
	w := &models.Webhook{ID: uuid.NewString(), TenantID: a.TenantID, Enabled: true}
	w.URL = s.checkWebhookURL(fields, in.URL)
	w.Description = strings.TrimSpace(in.Description)
	if len(w.Description) > maxWebhookDescription || clientHasControl(w.Description) {
		fields["description"] = fmt.Sprintf("Use at most %d characters, without control characters.", maxWebhookDescription)
	}
	w.EventTypes = checkEventTypes(fields, in.EventTypes)
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
		if !w.Enabled {
			w.DisabledReason = WebhookDisabledByAdmin
		}
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	secret, sealed, err := s.newWebhookSecret(w.ID)
	if err != nil {
		return nil, err
	}
	w.SecretSealed = sealed
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateWebhook(ctx, w); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditWebhookCreated, Metadata: webhookMeta(w)})
	})
	if err != nil {
		return nil, err
	}
	return &WebhookWithSecret{Webhook: w, Secret: secret}, nil
}

// webhookMeta is a webhook's audit metadata: its id, the URL's host (the
// full URL may carry a token in its query), events and state.
func webhookMeta(w *models.Webhook) map[string]any {
	host := ""
	if u, err := url.Parse(w.URL); err == nil {
		host = u.Host
	}
	types := []string(w.EventTypes)
	if types == nil {
		types = []string{}
	}
	return map[string]any{"webhook_id": w.ID, "url_host": host, "event_types": types, "enabled": w.Enabled}
}

// WebhookPage is one page of webhooks, oldest first.
type WebhookPage struct {
	Webhooks []models.Webhook
	Page     int
	PerPage  int
	Total    int
}

// List returns one page of the tenant's webhooks (page and perPage as in
// the users listing; 0: the defaults).
func (s *Webhooks) List(ctx context.Context, tenantID string, page, perPage int) (*WebhookPage, error) {
	fields := map[string]string{}
	page, perPage = checkPage(fields, page, perPage)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	list, total, err := s.store.ListWebhooks(ctx, tenantID, (page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	return &WebhookPage{Webhooks: list, Page: page, PerPage: perPage, Total: total}, nil
}

// Get returns one of the tenant's webhooks.
func (s *Webhooks) Get(ctx context.Context, tenantID, id string) (*models.Webhook, error) {
	return s.store.GetWebhook(ctx, tenantID, id)
}

// Update changes the fields p sets. Enabling a webhook resets its failure
// count; disabling it records that an administrator did.
func (s *Webhooks) Update(ctx context.Context, a Actor, id string, p WebhookPatch) (*models.Webhook, error) {
	fields := map[string]string{}
	var newURL, desc string
	var types models.StringList
	if p.URL != nil {
		newURL = s.checkWebhookURL(fields, *p.URL)
	}
	if p.Description != nil {
		desc = strings.TrimSpace(*p.Description)
		if len(desc) > maxWebhookDescription || clientHasControl(desc) {
			fields["description"] = fmt.Sprintf("Use at most %d characters, without control characters.", maxWebhookDescription)
		}
	}
	if p.EventTypes != nil {
		types = checkEventTypes(fields, *p.EventTypes)
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	var out *models.Webhook
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var changed []string
		w, err := s.store.UpdateWebhook(ctx, a.TenantID, id, func(w *models.Webhook) error {
			if p.URL != nil && newURL != w.URL {
				w.URL, changed = newURL, append(changed, "url")
			}
			if p.Description != nil && desc != w.Description {
				w.Description, changed = desc, append(changed, "description")
			}
			if p.EventTypes != nil {
				w.EventTypes, changed = types, append(changed, "event_types")
			}
			if p.Enabled != nil && *p.Enabled != w.Enabled {
				changed = append(changed, "enabled")
				w.Enabled = *p.Enabled
				if w.Enabled {
					w.ConsecutiveFailures, w.DisabledReason, w.DisabledAt = 0, "", nil
				} else {
					now := s.now().UTC()
					w.DisabledReason, w.DisabledAt = WebhookDisabledByAdmin, &now
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		out = w
		md := webhookMeta(w)
		md["changed"] = changed
		return s.audit.RecordActor(ctx, a, Event{Action: AuditWebhookUpdated, Metadata: md})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete deletes one of the tenant's webhooks with its deliveries.
func (s *Webhooks) Delete(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		w, err := s.store.GetWebhook(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := s.store.DeleteWebhook(ctx, a.TenantID, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditWebhookDeleted, Metadata: webhookMeta(w)})
	})
}

// RotateSecret replaces a webhook's secret (a danger action; the route's
// step-up gate guards it) and returns the new one, shown this once. The
// old secret stops signing at once: deliveries still queued are signed
// with the new one.
func (s *Webhooks) RotateSecret(ctx context.Context, a Actor, id string) (*WebhookWithSecret, error) {
	secret, sealed, err := s.newWebhookSecret(id)
	if err != nil {
		return nil, err
	}
	var out *models.Webhook
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		w, err := s.store.UpdateWebhook(ctx, a.TenantID, id, func(w *models.Webhook) error {
			w.SecretSealed = sealed
			return nil
		})
		if err != nil {
			return err
		}
		out = w
		return s.audit.RecordActor(ctx, a, Event{Action: AuditWebhookSecretRotated, Metadata: webhookMeta(w)})
	})
	if err != nil {
		return nil, err
	}
	return &WebhookWithSecret{Webhook: out, Secret: secret}, nil
}

// DeliveryPage is one page of a webhook's deliveries, newest first, each
// with its attempts.
type DeliveryPage struct {
	Deliveries []models.WebhookDelivery
	Attempts   map[string][]models.WebhookAttempt
	Page       int
	PerPage    int
	Total      int
}

// Deliveries returns one page of the delivery log of the tenant's webhook.
func (s *Webhooks) Deliveries(ctx context.Context, tenantID, id string, page, perPage int) (*DeliveryPage, error) {
	fields := map[string]string{}
	page, perPage = checkPage(fields, page, perPage)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if _, err := s.store.GetWebhook(ctx, tenantID, id); err != nil {
		return nil, err
	}
	list, total, err := s.store.ListWebhookDeliveries(ctx, tenantID, id, (page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	attempts, err := s.store.ListWebhookAttempts(ctx, tenantID, ids)
	if err != nil {
		return nil, err
	}
	return &DeliveryPage{Deliveries: list, Attempts: attempts, Page: page, PerPage: perPage, Total: total}, nil
}

// Test queues an identity.webhook.test event to the tenant's webhook, due
// now (the webhook must be enabled for it to be sent).
func (s *Webhooks) Test(ctx context.Context, a Actor, id string) (*models.WebhookDelivery, error) {
	w, err := s.store.GetWebhook(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, models.ErrInvalid(map[string]string{"enabled": "The webhook is disabled: enable it first."})
	}
	now := s.now().UTC()
	d := &models.WebhookDelivery{WebhookID: w.ID, TenantID: w.TenantID, EventID: uuid.NewString(), EventType: EventWebhookTest,
		EventSource: s.audit.Source, EventSubject: w.ID, EventTime: now, TraceParent: traceParent(ctx),
		Data: fmt.Sprintf(`{"webhook_id":%q,"tenant_id":%q,"test":true}`, w.ID, w.TenantID)}
	if err := s.store.CreateWebhookDelivery(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// DisableForFailures turns the tenant's webhook off after failures failed
// attempts in a row (the delivery worker calls it): in one transaction the
// webhook is disabled (if it still was enabled: of several workers one
// wins), the audit row written and every Owner of the tenant mailed
// through the mail queue. It reports whether it disabled the webhook.
func (s *Webhooks) DisableForFailures(ctx context.Context, tenantID, id string, failures int) (bool, error) {
	disabled := false
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.DisableWebhook(ctx, tenantID, id, WebhookDisabledByFailures)
		if err != nil || !ok {
			return err
		}
		w, err := s.store.GetWebhook(ctx, tenantID, id)
		if err != nil {
			return err
		}
		md := webhookMeta(w)
		md["reason"], md["consecutive_failures"] = WebhookDisabledByFailures, failures
		if err := s.audit.Record(ctx, Principal{}, Event{TenantID: tenantID, Action: AuditWebhookDisabled, Metadata: md}); err != nil {
			return err
		}
		if err := s.mailOwners(ctx, w, failures); err != nil {
			return err
		}
		disabled = true
		return nil
	})
	return disabled, err
}

// mailOwners queues the disabled notice to every Owner of the tenant.
func (s *Webhooks) mailOwners(ctx context.Context, w *models.Webhook, failures int) error {
	ids, err := s.owners.UsersWithRole(ctx, w.TenantID, RoleOwner)
	if err != nil {
		return err
	}
	host := w.URL
	if u, err := url.Parse(w.URL); err == nil {
		host = u.Scheme + "://" + u.Host + u.Path
	}
	for _, id := range ids {
		u, err := s.owners.GetUser(ctx, w.TenantID, id)
		if err != nil {
			if models.IsKind(err, models.KindNotFound) {
				continue
			}
			return err
		}
		text := fmt.Sprintf("Hello %s,\n\nThe webhook %s (%s) failed %d deliveries in a row and has been disabled.\n"+
			"No events are sent to it until it is enabled again (PATCH /api/webhooks/%s with {\"enabled\": true}).\n"+
			"Its delivery log (GET /api/webhooks/%s/deliveries) shows what the receiver answered.\n\n%s\n",
			displayName(u), host, w.ID, failures, w.ID, w.ID, s.issuer)
		if err := s.mailer.Send(ctx, Message{TenantID: u.TenantID, UserID: u.ID, To: u.Email, Subject: "A webhook has been disabled", Text: text}); err != nil {
			return fmt.Errorf("mail owner: %w", err)
		}
	}
	return nil
}
