package identity_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// mqClock is a settable clock shared by the store and the queue.
type mqClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *mqClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *mqClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mqMailer records deliveries and fails while fail is set.
type mqMailer struct {
	mu   sync.Mutex
	got  []identity.Message
	fail atomic.Bool
}

func (m *mqMailer) Send(_ context.Context, msg identity.Message) error {
	if m.fail.Load() {
		return errors.New("smtp: 451 try again later")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, msg)
	return nil
}

func (m *mqMailer) sent() []identity.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Message(nil), m.got...)
}

func mqQueue(t *testing.T, st *storage.Store, clock *mqClock, deliver identity.Mailer) *identity.MailQueue {
	t.Helper()
	ring, err := keyring.New([]byte("mail-queue-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := identity.NewMailQueue(identity.MailQueueDeps{Store: st, Sealer: ring, Deliver: deliver, Now: clock.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	q.MaxAttempts = 3
	return q
}

func mqCount(t *testing.T, st *storage.Store) int {
	t.Helper()
	n, err := st.CountMail(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMailQueue: Send only writes the (sealed) outbox row; the worker
// delivers it, retries a failure with backoff, gives up after MaxAttempts,
// and several workers draining at once deliver each message once.
func TestMailQueue(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			clock := &mqClock{t: time.Now().UTC()}
			st := storagetest.OpenStore(t, b, storage.Options{Now: clock.Now})
			m := &mqMailer{}
			q := mqQueue(t, st, clock, m)

			t.Run("queued, sealed, then delivered by the worker", func(t *testing.T) {
				msg := identity.Message{To: "ada@example.com", Subject: "Your sign-in code", Text: "Your sign-in code is 424242."}
				if err := q.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
				if len(m.sent()) != 0 || mqCount(t, st) != 1 {
					t.Fatalf("Send delivered inline (%d sent, %d queued)", len(m.sent()), mqCount(t, st))
				}
				claimed, sent, err := q.DrainOnce(ctx)
				if err != nil || claimed != 1 || sent != 1 {
					t.Fatalf("drain: claimed %d sent %d err %v", claimed, sent, err)
				}
				if got := m.sent(); len(got) != 1 || got[0] != msg {
					t.Fatalf("delivered %v, want %v", got, msg)
				}
				if n := mqCount(t, st); n != 0 {
					t.Fatalf("%d rows left after delivery", n)
				}
			})

			t.Run("a message in a rolled-back transaction is never sent", func(t *testing.T) {
				before := len(m.sent())
				err := st.InTx(ctx, func(ctx context.Context) error {
					if err := q.Send(ctx, identity.Message{To: "x@example.com", Subject: "s", Text: "t"}); err != nil {
						return err
					}
					return errors.New("the action failed")
				})
				if err == nil {
					t.Fatal("want the action's error")
				}
				if _, _, err := q.DrainOnce(ctx); err != nil {
					t.Fatal(err)
				}
				if len(m.sent()) != before || mqCount(t, st) != 0 {
					t.Fatal("a message of a rolled-back transaction was kept or sent")
				}
			})

			t.Run("failure backs off, then succeeds; MaxAttempts gives up", func(t *testing.T) {
				m.fail.Store(true)
				if err := q.Send(ctx, identity.Message{To: "grace@example.com", Subject: "locked", Text: "x"}); err != nil {
					t.Fatal(err)
				}
				if claimed, sent, _ := q.DrainOnce(ctx); claimed != 1 || sent != 0 {
					t.Fatalf("first attempt: claimed %d sent %d", claimed, sent)
				}
				// Not due again before the backoff (10 s after one failure).
				clock.Add(9 * time.Second)
				if claimed, _, _ := q.DrainOnce(ctx); claimed != 0 {
					t.Fatal("retried before the backoff")
				}
				clock.Add(2 * time.Second)
				m.fail.Store(false)
				if claimed, sent, _ := q.DrainOnce(ctx); claimed != 1 || sent != 1 {
					t.Fatalf("retry after the backoff: claimed %d sent %d", claimed, sent)
				}
				if mqCount(t, st) != 0 {
					t.Fatal("delivered message left in the outbox")
				}

				m.fail.Store(true)
				if err := q.Send(ctx, identity.Message{To: "never@example.com", Subject: "s", Text: "t"}); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ {
					if claimed, _, _ := q.DrainOnce(ctx); claimed != 1 {
						t.Fatalf("attempt %d not claimed", i+1)
					}
					clock.Add(time.Hour)
				}
				if n := mqCount(t, st); n != 0 {
					t.Fatalf("%d rows after MaxAttempts, want the message dropped", n)
				}
				m.fail.Store(false)
			})

			t.Run("concurrent workers deliver each message once", func(t *testing.T) {
				const n = 30
				before := len(m.sent())
				for i := 0; i < n; i++ {
					if err := q.Send(ctx, identity.Message{To: "many@example.com", Subject: "s", Text: "t"}); err != nil {
						t.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for w := 0; w < 4; w++ {
					wq := mqQueue(t, st, clock, m)
					wq.Batch = 5
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							claimed, _, err := wq.DrainOnce(ctx)
							if err != nil {
								t.Error(err)
								return
							}
							if claimed == 0 {
								return
							}
						}
					}()
				}
				wg.Wait()
				if got := len(m.sent()) - before; got != n || mqCount(t, st) != 0 {
					t.Fatalf("%d deliveries of %d messages, %d left", got, n, mqCount(t, st))
				}
			})

			t.Run("Run delivers what Send queued", func(t *testing.T) {
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); q.Run(runCtx) }()
				defer func() { cancel(); <-done }()
				before := len(m.sent())
				if err := q.Send(ctx, identity.Message{To: "run@example.com", Subject: "s", Text: "t"}); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(60 * time.Second)
				for len(m.sent()) == before {
					if time.Now().After(deadline) {
						t.Fatal("the worker never delivered the message")
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		})
	}
}

// hookMailer runs before on every delivery, then records it.
type hookMailer struct {
	mqMailer
	before func(identity.Message)
}

func (h *hookMailer) Send(ctx context.Context, msg identity.Message) error {
	if h.before != nil {
		h.before(msg)
	}
	return h.mqMailer.Send(ctx, msg)
}

// TestMailQueueErasedRecipient: a message the worker has already claimed
// is not sent when its person is erased (their mail withdrawn) or deleted
// before its turn in the batch; its row is gone afterwards. The outbox row
// names the person (tenant, user, keyed hash of the address) and never the
// address itself.
func TestMailQueueErasedRecipient(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			clock := &mqClock{t: time.Now().UTC()}
			st := storagetest.OpenStore(t, b, storage.Options{Now: clock.Now})
			tn := &models.Tenant{Slug: "mq-erased", Name: "MQ"}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			users := make([]*models.User, 3)
			for i := range users {
				users[i] = &models.User{TenantID: tn.ID, Email: fmt.Sprintf("person%d@example.com", i), PasswordHash: "x"}
				if err := st.CreateUser(ctx, users[i]); err != nil {
					t.Fatal(err)
				}
			}
			first, erased, deleted := users[0], users[1], users[2]
			h := &hookMailer{}
			q := mqQueue(t, st, clock, h)
			for _, u := range users {
				if err := q.Send(ctx, identity.Message{TenantID: u.TenantID, UserID: u.ID, To: u.Email, Subject: "code", Text: "123456"}); err != nil {
					t.Fatal(err)
				}
			}
			// An invitation to the erased person's address (no user on it).
			if err := q.Send(ctx, identity.Message{TenantID: tn.ID, To: strings.ToUpper(erased.Email), Subject: "invited", Text: "x"}); err != nil {
				t.Fatal(err)
			}
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			var named int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mail_outbox WHERE tenant_id IS NOT NULL AND user_id IS NOT NULL AND recipient_hash <> ''").Scan(&named); err != nil {
				t.Fatal(err)
			}
			if named != 3 {
				t.Fatalf("%d outbox rows name their person, want 3", named)
			}
			// While the first message is being sent, one person is erased
			// (their queued mail withdrawn, as Privacy.erase does) and
			// another deleted.
			h.before = func(m identity.Message) {
				if m.UserID != first.ID {
					return
				}
				if err := st.EraseUser(ctx, tn.ID, erased.ID); err != nil {
					t.Error(err)
				}
				ring, _ := keyring.New([]byte("mail-queue-test-secret-0123456789abcdef"))
				hash := ring.MAC(keyring.PurposeLookup, []byte("mail-recipient"), []byte(erased.Email))
				if n, err := st.DeletePersonMail(ctx, tn.ID, erased.ID, []string{hash}); err != nil || n != 2 {
					t.Errorf("withdrew %d messages (%v), want the erased person's 2", n, err)
				}
				if err := st.DeleteUser(ctx, tn.ID, deleted.ID); err != nil {
					t.Error(err)
				}
			}
			claimed, sent, err := q.DrainOnce(ctx)
			if err != nil || claimed != 4 || sent != 1 {
				t.Fatalf("drain: claimed %d sent %d err %v, want 4 claimed and only the first sent", claimed, sent, err)
			}
			got := h.sent()
			if len(got) != 1 || got[0].To != first.Email || got[0].UserID != first.ID || got[0].TenantID != tn.ID {
				t.Fatalf("delivered %+v, want only %s's message, naming them", got, first.Email)
			}
			if n := mqCount(t, st); n != 0 {
				t.Fatalf("%d rows left: withdrawn messages stay queued", n)
			}
		})
	}
}
