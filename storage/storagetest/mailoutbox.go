package storagetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// MailOutboxStore is the mail outbox: sealed messages waiting for the mail
// worker, leased to one worker at a time.
type MailOutboxStore interface {
	// EnqueueMail stores m, giving it an id; due now unless NextAttemptAt is set.
	EnqueueMail(ctx context.Context, m *models.OutboxMail) error
	// ClaimDueMail leases up to limit due, unleased messages for lease and
	// counts an attempt on each; of concurrent workers exactly one gets a
	// message.
	ClaimDueMail(ctx context.Context, limit int, lease time.Duration) ([]models.OutboxMail, error)
	// DeleteMail removes a delivered message.
	DeleteMail(ctx context.Context, id string) error
	// RetryMail releases a message to be tried again at next.
	RetryMail(ctx context.Context, id string, next time.Time, lastError string) error
	// CountMail counts the messages still waiting.
	CountMail(ctx context.Context) (int, error)
	// MailDeliverable is false for a message no longer queued or whose
	// user no longer exists.
	MailDeliverable(ctx context.Context, id string) (bool, error)
	// DeletePersonMail deletes the tenant's messages naming the user or
	// addressed to one of the recipient hashes, and counts them.
	DeletePersonMail(ctx context.Context, tenantID, userID string, recipientHashes []string) (int, error)
	TenantCreator
	UserCreator
	DeleteUser(ctx context.Context, tenantID, id string) error
}

var _ = claim[MailOutboxStore]("RunMailOutboxSuite", "EnqueueMail", "ClaimDueMail", "DeleteMail", "RetryMail", "CountMail",
	"MailDeliverable", "DeletePersonMail")

// RunMailOutboxSuite checks the outbox: due messages are claimed once per
// lease, a lost lease frees the message, a retry waits for its time, and
// concurrent workers never share a message. open receives a fake clock.
func RunMailOutboxSuite[S MailOutboxStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[MailOutboxStore] {
		clock := NewFakeClock(base)
		return clocked[MailOutboxStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[MailOutboxStore]]{
		{"ClaimLease", testMailClaim},
		{"RetryDelete", testMailRetry},
		{"ConcurrentWorkers", testMailConcurrent},
		{"PersonMail", testMailPerson},
	})
}

func enqueue(t *testing.T, s MailOutboxStore, next time.Time) *models.OutboxMail {
	t.Helper()
	m := &models.OutboxMail{Sealed: []byte("sealed-" + randomHex(t, 4)), NextAttemptAt: next}
	must(t, s.EnqueueMail(t.Context(), m), "enqueue")
	if m.ID == "" {
		t.Fatal("EnqueueMail gave no id")
	}
	return m
}

func mailIDs(ms []models.OutboxMail) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

func testMailClaim(t *testing.T, c clocked[MailOutboxStore]) {
	ctx := t.Context()
	now := enqueue(t, c.s, time.Time{})
	later := enqueue(t, c.s, base.Add(time.Hour))
	wantEqual(t, now.NextAttemptAt.Equal(base), true, "a message without a time is due now")
	n, err := c.s.CountMail(ctx)
	must(t, err, "count")
	wantEqual(t, n, 2, "messages waiting")

	got, err := c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim")
	if len(got) != 1 || got[0].ID != now.ID {
		t.Fatalf("claimed %v, want only the due message", mailIDs(got))
	}
	wantEqual(t, got[0].Attempts, 1, "attempts")
	wantEqual(t, string(got[0].Sealed), string(now.Sealed), "sealed body")
	if got[0].LeasedUntil == nil || !got[0].LeasedUntil.Equal(base.Add(time.Minute)) {
		t.Fatalf("leased until %v, want %v", got[0].LeasedUntil, base.Add(time.Minute))
	}
	got, err = c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim again")
	wantEqual(t, len(got), 0, "messages claimed while leased")

	// The worker died: the lease runs out and the message is due again,
	// with the later one now due too.
	c.clock.Advance(2 * time.Hour)
	got, err = c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim after the lease")
	wantArgs(t, mailIDs(got), mailIDs([]models.OutboxMail{*now, *later}), "claimed after the lease ran out")
	for _, m := range got {
		if m.ID == now.ID {
			wantEqual(t, m.Attempts, 2, "attempts of the message claimed twice")
		}
	}
	c.clock.Advance(2 * time.Minute)
	got, err = c.s.ClaimDueMail(ctx, 1, time.Minute)
	must(t, err, "claim with a limit")
	wantEqual(t, len(got), 1, "messages claimed with limit 1")
}

func testMailRetry(t *testing.T, c clocked[MailOutboxStore]) {
	ctx := t.Context()
	m := enqueue(t, c.s, time.Time{})
	got, err := c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim")
	wantEqual(t, len(got), 1, "claimed")
	must(t, c.s.RetryMail(ctx, m.ID, base.Add(10*time.Minute), "smtp: 451 try later"), "retry")
	got, err = c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim before the retry time")
	wantEqual(t, len(got), 0, "claimed before the retry time")
	c.clock.Advance(10 * time.Minute)
	got, err = c.s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim at the retry time")
	if len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("claimed %v at the retry time, want the message", mailIDs(got))
	}
	wantEqual(t, got[0].LastError, "smtp: 451 try later", "last error")
	wantEqual(t, got[0].Attempts, 2, "attempts")

	must(t, c.s.DeleteMail(ctx, m.ID), "delete")
	n, err := c.s.CountMail(ctx)
	must(t, err, "count")
	wantEqual(t, n, 0, "messages after delivery")
	must(t, c.s.DeleteMail(ctx, m.ID), "delete a delivered message again")
}

func testMailConcurrent(t *testing.T, c clocked[MailOutboxStore]) {
	ctx := t.Context()
	const messages, workers = 12, 6
	for range messages {
		enqueue(t, c.s, time.Time{})
	}
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
	)
	for _, err := range race(workers, func(int) error {
		got, err := c.s.ClaimDueMail(ctx, messages, time.Minute)
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			claimed[m.ID]++
		}
		return err
	}) {
		must(t, err, "worker")
	}
	wantEqual(t, len(claimed), messages, "messages claimed by some worker")
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("message %s claimed by %d workers, want 1", id, n)
		}
	}
}

// testMailPerson: a person's queued mail (by user, or by recipient hash in
// the tenant) is deleted with DeletePersonMail and nobody else's; a claimed
// message stops being deliverable once deleted or once its user is gone.
func testMailPerson(t *testing.T, c clocked[MailOutboxStore]) {
	ctx := t.Context()
	s := c.s
	tn, other := newTenant(t, s), newTenant(t, s)
	u, v := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	add := func(tenantID string, userID *string, hash string) *models.OutboxMail {
		t.Helper()
		m := &models.OutboxMail{TenantID: &tenantID, UserID: userID, RecipientHash: hash, Sealed: []byte("sealed-" + randomHex(t, 4))}
		must(t, s.EnqueueMail(ctx, m), "enqueue")
		return m
	}
	mine := add(tn.ID, &u.ID, "hash-u")
	invited := add(tn.ID, nil, "hash-u")
	theirs := add(tn.ID, &v.ID, "hash-v")
	elsewhere := add(other.ID, nil, "hash-u")
	vs := add(tn.ID, &v.ID, "hash-v2")
	claimed, err := s.ClaimDueMail(ctx, 10, time.Minute)
	must(t, err, "claim")
	wantEqual(t, len(claimed), 5, "claimed")
	for _, m := range []*models.OutboxMail{mine, invited, theirs, elsewhere} {
		ok, err := s.MailDeliverable(ctx, m.ID)
		must(t, err, "deliverable")
		wantEqual(t, ok, true, "a queued message is deliverable")
	}
	n, err := s.DeletePersonMail(ctx, tn.ID, u.ID, []string{"hash-u", ""})
	must(t, err, "delete person mail")
	wantEqual(t, n, 2, "the person's messages (by user and by address) deleted")
	for m, want := range map[*models.OutboxMail]bool{mine: false, invited: false, theirs: true, elsewhere: true} {
		ok, err := s.MailDeliverable(ctx, m.ID)
		must(t, err, "deliverable")
		wantEqual(t, ok, want, "deliverable after the erasure")
	}
	n, err = s.DeletePersonMail(ctx, tn.ID, u.ID, nil)
	must(t, err, "delete again")
	wantEqual(t, n, 0, "deleted twice")
	must(t, s.DeleteUser(ctx, tn.ID, v.ID), "delete user")
	ok, err := s.MailDeliverable(ctx, vs.ID)
	must(t, err, "deliverable")
	wantEqual(t, ok, false, "a message of a user who is gone")
	ok, err = s.MailDeliverable(ctx, unknownID)
	must(t, err, "deliverable unknown")
	wantEqual(t, ok, false, "an unknown message")
}
