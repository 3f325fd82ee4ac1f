package handlers_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// TestErasureWithdrawsQueuedMail: mail queued for a person and not yet
// sent is withdrawn when they are erased, by themself (DELETE /api/auth/me)
// or by an administrator (POST /api/users/{id}/erase): with the real mail
// path (SMTP_URL, the outbox and its worker) and an SMTP server holding the
// worker on another person's message, the person's reset code waits in the
// outbox; the erasure deletes its row in the erasure's transaction, and
// once SMTP lets go only the other person's message arrives.
func TestErasureWithdrawsQueuedMail(t *testing.T) {
	t.Parallel()
	for _, by := range []string{"self", "admin"} {
		t.Run(by, func(t *testing.T) {
			apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
				smtpSrv := apptest.StartHeldSMTP(t)
				srv := apptest.New(t, b, func(cfg *app.Config) { cfg.SMTPURL = smtpSrv.URL() })
				tenant := newTestTenant(t, srv)
				newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
				admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
				bystander := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
				person := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
				adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
				personTok := srv.Login(t, tenant.Slug, person.Email, apptest.Password)
				srv.StepUp(t, adminTok, apptest.Password)
				srv.StepUp(t, personTok, apptest.Password)
				forgot := func(email string) {
					t.Helper()
					res := srv.Call(t, http.MethodPost, "/api/auth/password/forgot", "", map[string]any{"tenant": tenant.Slug, "email": email})
					require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
				}
				waitFor := func(what string, cond func() bool) {
					t.Helper()
					deadline := time.Now().Add(60 * time.Second)
					for !cond() {
						require.False(t, time.Now().After(deadline), "waited too long for %s", what)
						time.Sleep(20 * time.Millisecond)
					}
				}

				// The worker is busy with the bystander's message, held by SMTP.
				forgot(bystander.Email)
				waitFor("the worker to send the bystander's message", func() bool { return smtpSrv.Holding() == 1 })
				// The person's reset code waits in the outbox, naming them.
				forgot(person.Email)
				require.Len(t, srv.Rows(t, "SELECT id FROM mail_outbox WHERE user_id = "+sqlQuote(person.ID)), 1, "the person's queued message")

				if by == "self" {
					require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodDelete, "/api/auth/me", personTok, map[string]any{"password": apptest.Password}).Status)
				} else {
					require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodPost, "/api/users/"+person.ID+"/erase", adminTok, nil).Status)
				}
				require.Empty(t, srv.Rows(t, "SELECT id FROM mail_outbox WHERE user_id = "+sqlQuote(person.ID)), "the erasure withdrew the queued message")

				smtpSrv.Release()
				waitFor("the bystander's message", func() bool { return len(smtpSrv.Messages()) == 1 })
				waitFor("an empty outbox", func() bool { return len(srv.TableRows(t, "mail_outbox")) == 0 })
				// Give the worker another round: nothing more arrives.
				forgot(bystander.Email)
				waitFor("the second bystander message", func() bool { return len(smtpSrv.Messages()) == 2 })
				for _, m := range smtpSrv.Messages() {
					require.False(t, slices.Contains(m.To, person.Email), "a message reached the erased person")
					require.Equal(t, []string{bystander.Email}, m.To)
				}
			})
		})
	}
}
