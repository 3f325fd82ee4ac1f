package storage_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

func TestTenantSuspendStorage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		st := open(t, storage.Options{})
		ctx := t.Context()
		a, ua := seedTenantUser(t, st, "victim")
		b, _ := seedTenantUser(t, st, "bystander")
		for _, tn := range []*models.Tenant{a, b} {
			require.NoError(t, st.CreateClient(ctx, &models.Client{ID: "client-" + tn.ID, TenantID: tn.ID, TokenEndpointAuthMethod: "client_secret_basic"}))
		}
		future := time.Now().Add(time.Hour)
		for _, tn := range []*models.Tenant{a, b} {
			require.NoError(t, st.CreateAccessTokenSession(ctx, "at-"+tn.ID, fositeReq(tn.ID, fosite.AccessToken, future)))
			require.NoError(t, st.CreateRefreshTokenSession(ctx, "rt-"+tn.ID, "", fositeReq(tn.ID, fosite.RefreshToken, future)))
		}
		sess := &models.Session{TenantID: a.ID, UserID: ua.ID, Kind: models.SessionBrowser, ExpiresAt: future}
		require.NoError(t, st.CreateSession(ctx, sess))
		require.NoError(t, st.CreateLoginSession(ctx, &models.LoginSession{TokenHash: "cookie", TenantID: a.ID, UserID: ua.ID, AuthTime: time.Now(), ExpiresAt: future, SessionID: &sess.ID}))

		got, err := st.SuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.NotNil(t, got.SuspendedAt)

		_, err = st.GetClient(ctx, "client-"+a.ID)
		require.ErrorIs(t, err, fosite.ErrNotFound, "a suspended tenant's client is not found")
		_, err = st.GetClient(ctx, "client-"+b.ID)
		require.NoError(t, err, "other tenants are untouched")
		_, err = st.GetAccessTokenSession(ctx, "at-"+a.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.ErrorIs(t, err, fosite.ErrNotFound)
		_, err = st.GetRefreshTokenSession(ctx, "rt-"+a.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.ErrorIs(t, err, fosite.ErrNotFound)
		_, err = st.GetAccessTokenSession(ctx, "at-"+b.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.NoError(t, err)
		_, err = st.GetSession(ctx, a.ID, ua.ID, sess.ID)
		require.True(t, models.IsKind(err, models.KindNotFound), "the session is revoked: %v", err)
		_, err = st.GetLoginSession(ctx, "cookie")
		require.True(t, models.IsKind(err, models.KindNotFound), "the browser login is gone: %v", err)

		again, err := st.SuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, again.SuspendedAt.Equal(*got.SuspendedAt), "suspending twice keeps the first time")

		un, err := st.UnsuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.Nil(t, un.SuspendedAt)
		_, err = st.GetClient(ctx, "client-"+a.ID)
		require.NoError(t, err)

		_, err = st.SuspendTenant(ctx, uuid.NewString())
		require.True(t, models.IsKind(err, models.KindNotFound))
		_, err = st.SuspendTenant(ctx, "nope")
		require.True(t, models.IsKind(err, models.KindNotFound))

		require.NoError(t, st.DeleteTenant(ctx, a.ID))
		_, err = st.GetTenant(ctx, a.ID)
		require.True(t, models.IsKind(err, models.KindNotFound))
		_, err = st.GetUser(ctx, a.ID, ua.ID)
		require.True(t, models.IsKind(err, models.KindNotFound), "users go with their tenant")
		require.True(t, models.IsKind(st.DeleteTenant(ctx, a.ID), models.KindNotFound))
		list, err := st.ListTenants(ctx, "BYSTAND", "", 10)
		require.NoError(t, err)
		require.Len(t, list, 1)
		list, err = st.ListTenants(ctx, "%", "", 10)
		require.NoError(t, err)
		require.Empty(t, list, "LIKE wildcards in a search are literal")
	})
}
