package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// MailStore is the durable queue behind MailQueue (the mail_outbox table).
type MailStore interface {
	// EnqueueMail stores a message, in the transaction of ctx if any.
	EnqueueMail(ctx context.Context, m *models.OutboxMail) error
	// ClaimDueMail leases up to limit due, unleased messages for lease and
	// counts the attempt; a message is claimed by one caller only.
	ClaimDueMail(ctx context.Context, limit int, lease time.Duration) ([]models.OutboxMail, error)
	DeleteMail(ctx context.Context, id string) error
	RetryMail(ctx context.Context, id string, next time.Time, lastError string) error
	// MailDeliverable reports whether a claimed message is still queued
	// and, when it names a user, that the user still exists: false for a
	// message whose person was erased (or deleted) after it was claimed.
	MailDeliverable(ctx context.Context, id string) (bool, error)
}

// mailRecipientHash is the keyed hash of a recipient address the outbox
// keeps (never the address: the message stays sealed), so erasure finds
// the mail queued for an address that has no user yet (an invitation).
func mailRecipientHash(s Sealer, addr string) string {
	return s.MAC(keyring.PurposeLookup, []byte("mail-recipient"), []byte(strings.ToLower(strings.TrimSpace(addr))))
}

// mailAAD binds a sealed outbox message to its purpose.
var mailAAD = []byte("mail_outbox")

// MailQueue takes e-mail off the request path. Its Send (the Mailer the
// services use) seals the message and writes it to the outbox, in the
// caller's transaction when there is one, and returns: no request waits on
// SMTP, so a known account answers as fast as an unknown one, and a message
// is never lost to a crash or an SMTP outage. Run, in every serving
// instance, delivers what is due through its Deliver mailer: each message is leased
// by one worker at a time, deleted once sent, retried with exponential
// backoff (10 s doubling, capped at an hour) after a failure, and dropped
// with an error log after MaxAttempts (its codes have expired by then).
type MailQueue struct {
	store    MailStore
	sealer   Sealer
	delivery Mailer
	clock    func() time.Time
	log      *slog.Logger
	wake     chan struct{}

	// Tunables, set before Run. Interval is how often Run looks for due
	// mail (default 1 s); a Send in this process wakes it at once.
	Interval time.Duration
	// Lease is how long a claimed message is this worker's (default 2 min);
	// SendTimeout bounds one delivery (default 30 s, below Lease).
	Lease       time.Duration
	SendTimeout time.Duration
	MaxAttempts int // default 10
	Batch       int // default 20
	// Tracer, when set, gives each delivery a span (issue 11 §7); the
	// database calls and the SMTP send of that delivery are its children.
	Tracer trace.Tracer
	// Observe, when set, is told the outcome of each delivery attempt:
	// sent, failed (to be retried), dropped (given up or unreadable) or
	// withdrawn (its recipient was erased). Set it before Run.
	Observe func(outcome string)
}

// MailQueueDeps are what NewMailQueue needs; every field is required.
type MailQueueDeps struct {
	Store MailStore
	// Sealer seals each message at rest (its codes are secrets).
	Sealer Sealer
	// Deliver is the real mailer (SMTP, or the log in development).
	Deliver Mailer
	Now     func() time.Time
	Log     *slog.Logger
}

// NewMailQueue builds the outbox; set its tunables before Run.
func NewMailQueue(d MailQueueDeps) (*MailQueue, error) {
	if err := checkDeps("MailQueue", dep{"Store", d.Store == nil}, dep{"Sealer", d.Sealer == nil},
		dep{"Deliver", d.Deliver == nil}, dep{"Now", d.Now == nil}, dep{"Log", d.Log == nil}); err != nil {
		return nil, err
	}
	return &MailQueue{store: d.Store, sealer: d.Sealer, delivery: d.Deliver, clock: d.Now, log: d.Log, wake: make(chan struct{}, 1)}, nil
}

func (q *MailQueue) now() time.Time { return q.clock().UTC() }

func (q *MailQueue) observe(outcome string) {
	if q.Observe != nil {
		q.Observe(outcome)
	}
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Send implements Mailer: it queues m for the worker.
func (q *MailQueue) Send(ctx context.Context, m Message) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("queue mail: %w", err))
	}
	sealed, err := q.sealer.Seal(raw, mailAAD)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("queue mail: seal: %w", err))
	}
	row := &models.OutboxMail{Sealed: sealed, NextAttemptAt: q.now(), RecipientHash: mailRecipientHash(q.sealer, m.To)}
	if m.TenantID != "" {
		row.TenantID = &m.TenantID
	}
	if m.UserID != "" {
		row.UserID = &m.UserID
	}
	if err := q.store.EnqueueMail(ctx, row); err != nil {
		return err
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// backoff is the wait before attempt n+1 after n failed attempts.
func backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// DrainOnce delivers one batch of due mail; it reports how many messages
// it claimed, sent and gave up on.
func (q *MailQueue) DrainOnce(ctx context.Context) (claimed, sent int, err error) {
	batch := orDefault(q.Batch, 20)
	msgs, err := q.store.ClaimDueMail(ctx, batch, orDefault(q.Lease, 2*time.Minute))
	if err != nil {
		return 0, 0, err
	}
	for _, row := range msgs {
		dctx, span := jobSpan(q.Tracer, ctx, "mail deliver")
		ok := q.deliver(dctx, row)
		span.SetAttributes(attribute.Int("mail.attempt", row.Attempts), attribute.Bool("mail.sent", ok))
		span.End()
		if ok {
			sent++
		}
	}
	return len(msgs), sent, nil
}

// deliver sends one claimed message and records the outcome.
func (q *MailQueue) deliver(ctx context.Context, row models.OutboxMail) bool {
	log := q.log
	var m Message
	raw, err := q.sealer.Open(row.Sealed, mailAAD)
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if row.TenantID != nil {
		m.TenantID = *row.TenantID
	}
	if row.UserID != nil {
		m.UserID = *row.UserID
	}
	if err != nil {
		log.ErrorContext(ctx, "mail queue: unreadable message dropped", "mail_id", row.ID, "err", err)
		q.observe("dropped")
		if err := q.store.DeleteMail(ctx, row.ID); err != nil {
			log.ErrorContext(ctx, "mail queue: delete", "mail_id", row.ID, "err", err)
		}
		return false
	}
	// The person may have been erased since the claim (erasure deletes
	// their queued mail, but this worker already holds the row): look
	// again right before sending.
	ok, err := q.store.MailDeliverable(ctx, row.ID)
	if err != nil {
		log.WarnContext(ctx, "mail queue: check message, will retry", "mail_id", row.ID, "err", err)
		q.observe("failed")
		if err := q.store.RetryMail(ctx, row.ID, q.now().Add(backoff(row.Attempts)), truncate(err.Error(), 500)); err != nil {
			log.ErrorContext(ctx, "mail queue: record failure", "mail_id", row.ID, "err", err)
		}
		return false
	}
	if !ok {
		log.InfoContext(ctx, "mail queue: message withdrawn (its recipient was erased)", "mail_id", row.ID)
		q.observe("withdrawn")
		if err := q.store.DeleteMail(ctx, row.ID); err != nil {
			log.ErrorContext(ctx, "mail queue: delete", "mail_id", row.ID, "err", err)
		}
		return false
	}
	sendCtx, cancel := context.WithTimeout(ctx, orDefault(q.SendTimeout, 30*time.Second))
	err = q.delivery.Send(sendCtx, m)
	cancel()
	if err == nil {
		q.observe("sent")
		if err := q.store.DeleteMail(ctx, row.ID); err != nil {
			// Sent, but still queued: the lease expiry would send it again.
			log.ErrorContext(ctx, "mail queue: delete sent message", "mail_id", row.ID, "err", err)
		}
		return true
	}
	if row.Attempts >= orDefault(q.MaxAttempts, 10) {
		log.ErrorContext(ctx, "mail queue: giving up on a message", "mail_id", row.ID, "attempts", row.Attempts, "subject", m.Subject, "err", err)
		q.observe("dropped")
		if err := q.store.DeleteMail(ctx, row.ID); err != nil {
			log.ErrorContext(ctx, "mail queue: delete", "mail_id", row.ID, "err", err)
		}
		return false
	}
	next := q.now().Add(backoff(row.Attempts))
	log.WarnContext(ctx, "mail queue: delivery failed, will retry", "mail_id", row.ID, "attempts", row.Attempts, "retry_at", next, "err", err)
	q.observe("failed")
	if err := q.store.RetryMail(ctx, row.ID, next, truncate(err.Error(), 500)); err != nil {
		log.ErrorContext(ctx, "mail queue: record failure", "mail_id", row.ID, "err", err)
	}
	return false
}

// Run delivers due mail until ctx ends: every Interval, and at once (then
// again shortly, for a Send whose transaction was still committing) when
// this process queued a message.
func (q *MailQueue) Run(ctx context.Context) {
	interval := orDefault(q.Interval, time.Second)
	timer := time.NewTimer(0)
	defer timer.Stop()
	quick := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-q.wake:
			quick = 2
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		for {
			claimed, _, err := q.DrainOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					q.log.ErrorContext(ctx, "mail queue: drain", "err", err)
				}
				break
			}
			if claimed < orDefault(q.Batch, 20) {
				break
			}
		}
		next := interval
		if quick > 0 {
			quick--
			next = min(interval, 50*time.Millisecond)
		}
		timer.Reset(next)
	}
}

// Message is one e-mail. TenantID and UserID name the person it is for
// (UserID only when the recipient is a user): the outbox keeps them beside
// the sealed message, so erasing the person deletes what was queued for
// them, and the worker drops a message of a user who is gone. Every
// message a service sends sets TenantID (TestMessagesNameTheirPerson).
type Message struct {
	TenantID string `json:"-"`
	UserID   string `json:"-"`
	To       string
	Subject  string
	Text     string
}

// Mailer sends e-mail: to the log by default, over SMTP when configured.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}
