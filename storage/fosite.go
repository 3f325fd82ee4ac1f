package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/identityd/identityd/models"
)

// Compile-time proof that Store keeps fosite v0.49.0's storage contract;
// compose.Compose only type-asserts at run time, and would panic.
var (
	_ fosite.Storage                       = (*Store)(nil)
	_ fosite.ClientManager                 = (*Store)(nil)
	_ oauth2.CoreStorage                   = (*Store)(nil)
	_ oauth2.TokenRevocationStorage        = (*Store)(nil)
	_ oauth2.ClientCredentialsGrantStorage = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage   = (*Store)(nil)
	_ pkce.PKCERequestStorage              = (*Store)(nil)
)

// The fosite request tables. They share one row shape.
const (
	tableCodes   = "oauth_codes"
	tableAccess  = "oauth_access_tokens"
	tableRefresh = "oauth_refresh_tokens"
	tableOIDC    = "oauth_oidc_sessions"
	tablePKCE    = "oauth_pkce_sessions"
)

// tenantSession is implemented by the OAuth session type; storage reads the
// tenant from it to fill the tenant_id column without importing oauth.
type tenantSession interface{ GetTenantID() string }

// loginSession is implemented by sessions bound to a login session (a device
// session): storage fills session_id so revoking it is one indexed DELETE.
type loginSession interface{ GetSessionID() string }

// requestRow is one stored fosite request (Hydra's OAuth2RequestSQL shape).
type requestRow struct {
	Signature       string `gorm:"primaryKey"`
	RequestID       string
	TenantID        string
	SessionID       string
	ClientID        string
	Subject         string
	RequestedAt     time.Time
	ExpiresAt       *time.Time
	Scopes          models.StringList
	GrantedScopes   models.StringList
	Audience        models.StringList
	GrantedAudience models.StringList
	FormData        string
	SessionData     string
	Active          bool
}

// refreshRow adds what refresh rotation needs. The request is a named
// field: GORM skips an anonymous field of an unexported type, which would
// leave every shared column out of the refresh table.
type refreshRow struct {
	Request              requestRow `gorm:"embedded"`
	FirstUsedAt          *time.Time
	AccessTokenSignature string
}

// hashKey is the one function every storage key passes through: fosite hands
// some tables the raw authorization code, and no token may rest in a table.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (s *Store) newRow(key string, req fosite.Requester, kind fosite.TokenType) (requestRow, error) {
	return s.newRowWithSession(key, req, kind, "")
}

// newRowWithSession is newRow with the session's JSON already made
// (sessionData, when not empty): a refresh stores one session under two
// tokens and marshals it once.
func (s *Store) newRowWithSession(key string, req fosite.Requester, kind fosite.TokenType, sessionData string) (requestRow, error) {
	row := requestRow{
		Signature:       hashKey(key),
		RequestID:       req.GetID(),
		RequestedAt:     req.GetRequestedAt().UTC(),
		Scopes:          models.StringList(req.GetRequestedScopes()),
		GrantedScopes:   models.StringList(req.GetGrantedScopes()),
		Audience:        models.StringList(req.GetRequestedAudience()),
		GrantedAudience: models.StringList(req.GetGrantedAudience()),
		FormData:        req.GetRequestForm().Encode(),
		Active:          true,
	}
	if c := req.GetClient(); c != nil {
		row.ClientID = c.GetID()
	}
	if sess := req.GetSession(); sess != nil {
		row.Subject = sess.GetSubject()
		if ts, ok := sess.(tenantSession); ok {
			row.TenantID = ts.GetTenantID()
		}
		if ls, ok := sess.(loginSession); ok {
			row.SessionID = ls.GetSessionID()
		}
		if exp := sess.GetExpiresAt(kind); !exp.IsZero() {
			e := exp.UTC()
			row.ExpiresAt = &e
		}
		row.SessionData = sessionData
		if row.SessionData == "" {
			data, err := json.Marshal(sess)
			if err != nil {
				return row, fmt.Errorf("marshal session: %w", err)
			}
			row.SessionData = string(data)
		}
	}
	if row.RequestedAt.IsZero() {
		row.RequestedAt = s.now()
	}
	return row, nil
}

func (s *Store) createRequest(ctx context.Context, table, key string, req fosite.Requester, kind fosite.TokenType) error {
	row, err := s.newRow(key, req, kind)
	if err != nil {
		return err
	}
	if err := s.db(ctx).Table(table).Create(&row).Error; err != nil {
		return fmt.Errorf("create %s: %w", table, mapErr(err))
	}
	return nil
}

// toRequest rebuilds a fosite.Request from a row, unmarshalling the stored
// session into the caller's session (fosite's revocation handler passes nil,
// which is allowed: the request then carries no session).
func (s *Store) toRequest(ctx context.Context, row *requestRow, session fosite.Session) (*fosite.Request, error) {
	client, err := s.GetClient(ctx, row.ClientID)
	if err != nil {
		return nil, fmt.Errorf("load client of stored request: %w", err)
	}
	form, err := url.ParseQuery(row.FormData)
	if err != nil {
		return nil, fmt.Errorf("parse stored form: %w", err)
	}
	if session != nil && row.SessionData != "" {
		if err := json.Unmarshal([]byte(row.SessionData), session); err != nil {
			return nil, fmt.Errorf("unmarshal stored session: %w", err)
		}
	}
	return &fosite.Request{
		ID:                row.RequestID,
		RequestedAt:       row.RequestedAt.UTC(), // pgx scans timestamptz into time.Local
		Client:            client,
		RequestedScope:    fosite.Arguments(slices.Clone(row.Scopes)),
		GrantedScope:      fosite.Arguments(slices.Clone(row.GrantedScopes)),
		RequestedAudience: fosite.Arguments(slices.Clone(row.Audience)),
		GrantedAudience:   fosite.Arguments(slices.Clone(row.GrantedAudience)),
		Form:              form,
		Session:           session,
	}, nil
}

func (s *Store) findRow(ctx context.Context, table, key string, dst any) error {
	err := s.db(ctx).Table(table).Where("signature = ?", hashKey(key)).Take(dst).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fosite.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", table, mapErr(err))
	}
	return nil
}

func (s *Store) getRequest(ctx context.Context, table, key string, session fosite.Session) (*fosite.Request, bool, error) {
	var row requestRow
	if table == tableAccess {
		if err := s.findAccessRow(ctx, key, &row); err != nil {
			return nil, false, err
		}
	} else if err := s.findRow(ctx, table, key, &row); err != nil {
		return nil, false, err
	}
	req, err := s.toRequest(ctx, &row, session)
	if err != nil {
		return nil, false, err
	}
	return req, row.Active, nil
}

// findAccessRow reads an access token row through the lookup cache. A hit
// fills only the columns toRequest reads, and Active (compactRow).
func (s *Store) findAccessRow(ctx context.Context, key string, row *requestRow) error {
	gen, mode := s.cachedGeneration(ctx)
	var sig tokenKey
	if mode != lookupBypass {
		sig = sha256.Sum256([]byte(key))
	}
	if mode == lookupCached {
		if e, hit := s.cache.tokens.Get(sig); hit && s.cache.fresh(e.gen, gen.Tokens, e.at, time.Now()) {
			s.cache.lookedUp("token_lookup", true)
			return e.row.fill(row)
		}
		s.cache.lookedUp("token_lookup", false)
	}
	if err := s.findRow(ctx, tableAccess, key, row); err != nil {
		if e, hit := s.cache.tokenIfLastResort(mode, err, sig, gen.Tokens); hit {
			return e.row.fill(row)
		}
		return err
	}
	if mode == lookupCached {
		s.cache.tokens.Add(sig, cachedToken{gen: gen.Tokens, at: time.Now(), row: compactRowOf(row)})
	}
	return nil
}

func (s *Store) deleteRequest(ctx context.Context, table, key string) error {
	if err := s.db(ctx).Table(table).Where("signature = ?", hashKey(key)).Delete(&requestRow{}).Error; err != nil {
		return fmt.Errorf("delete %s: %w", table, mapErr(err))
	}
	return nil
}

// CreateAuthorizeCodeSession stores an authorization code's request.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.createRequest(ctx, tableCodes, code, req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession returns the code's request. An invalidated code
// returns the request together with fosite.ErrInvalidatedAuthorizeCode, so
// fosite can revoke every token issued from it.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, code string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.getRequest(ctx, tableCodes, code, session)
	if err != nil {
		return nil, err
	}
	if !active {
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code used. A code that is already
// used (a concurrent exchange won) is a serialization failure.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	res := s.db(ctx).Table(tableCodes).Where("signature = ? AND active", hashKey(code)).Update("active", false)
	if res.Error != nil {
		return fmt.Errorf("invalidate code: %w", mapErr(res.Error))
	}
	if res.RowsAffected == 0 {
		return fosite.ErrSerializationFailure.WithHint("The authorization code was used by a concurrent request.")
	}
	return nil
}

// CreateAccessTokenSession stores an access token's request under its signature.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createRequest(ctx, tableAccess, signature, req, fosite.AccessToken)
}

// GetAccessTokenSession returns the access token's request, or ErrNotFound
// once the token is revoked (revocation deletes the row).
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getRequest(ctx, tableAccess, signature, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeleteAccessTokenSession removes one access token.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	if err := s.deleteRequest(ctx, tableAccess, signature); err != nil {
		return err
	}
	s.invalidateLookups(ctx, TokenLookups)
	return nil
}

// CreateRefreshTokenSession stores a refresh token, remembering the access
// token issued beside it so a graceful rotation can revoke just that one.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	row, err := s.newRow(signature, req, fosite.RefreshToken)
	if err != nil {
		return err
	}
	rr := refreshRow{Request: row}
	if accessSignature != "" {
		rr.AccessTokenSignature = hashKey(accessSignature)
	}
	if err := s.db(ctx).Table(tableRefresh).Create(&rr).Error; err != nil {
		return fmt.Errorf("create refresh token: %w", mapErr(err))
	}
	return nil
}

// GetRefreshTokenSession returns the refresh token's request. A rotated token
// is still active inside the grace period (counted from its first use, never
// extended); after it, the request comes back with fosite.ErrInactiveToken,
// which fosite treats as reuse and answers by revoking the whole grant.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row refreshRow
	if err := s.findRow(ctx, tableRefresh, signature, &row); err != nil {
		return nil, err
	}
	req, err := s.toRequest(ctx, &row.Request, session)
	if err != nil {
		return nil, err
	}
	if row.Request.Active {
		return req, nil
	}
	if s.grace > 0 && row.FirstUsedAt != nil && s.now().Before(row.FirstUsedAt.Add(s.grace)) {
		return req, nil
	}
	if s.OnRefreshReuse != nil {
		s.OnRefreshReuse(ctx, row.Request.TenantID, row.Request.Subject, row.Request.ClientID, row.Request.RequestID)
	}
	return req, fosite.ErrInactiveToken
}

// GetRefreshTokenClientID returns the client a stored refresh token was
// issued to, active or not, and nothing else: the first-party refresh needs
// the client before fosite's handler reads the token (which is where reuse
// is detected and reported, once). fosite.ErrNotFound when unknown.
func (s *Store) GetRefreshTokenClientID(ctx context.Context, signature string) (string, error) {
	var ids []string
	if err := s.db(ctx).Table(tableRefresh).Where("signature = ?", hashKey(signature)).Limit(1).Pluck("client_id", &ids).Error; err != nil {
		return "", fmt.Errorf("get refresh token client: %w", mapErr(err))
	}
	if len(ids) == 0 {
		return "", fosite.ErrNotFound
	}
	return ids[0], nil
}

// DeleteRefreshTokenSession removes one refresh token.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, tableRefresh, signature)
}

// RotateRefreshToken retires the presented refresh token as part of a refresh
// (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2).
//
// Strict (no grace period): the token must still be active; it is deactivated
// and every access token of the grant is revoked. If a concurrent refresh
// already rotated it, the answer is ErrSerializationFailure.
//
// Graceful: the token is deactivated and first_used_at is stamped once, so it
// keeps working until the grace period after its first use ends; only the
// access token issued beside it is revoked (all of the grant's if the pair is
// unknown).
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	db := s.db(ctx)
	key := hashKey(signature)
	if s.grace == 0 {
		res := db.Table(tableRefresh).Where("signature = ? AND request_id = ? AND active", key, requestID).Update("active", false)
		if res.Error != nil {
			return fmt.Errorf("rotate refresh token: %w", mapErr(res.Error))
		}
		if res.RowsAffected == 0 {
			return fosite.ErrSerializationFailure.WithHint("The refresh token was rotated by a concurrent request.")
		}
		if err := db.Table(tableAccess).Where("request_id = ?", requestID).Delete(&requestRow{}).Error; err != nil {
			return fmt.Errorf("rotate refresh token: revoke access tokens: %w", mapErr(err))
		}
		s.invalidateLookups(ctx, TokenLookups)
		return nil
	}
	var row refreshRow
	if err := db.Table(tableRefresh).Scopes(s.forUpdate).Where("signature = ? AND request_id = ?", key, requestID).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fosite.ErrNotFound
		}
		return fmt.Errorf("rotate refresh token: %w", mapErr(err))
	}
	now := s.now()
	first := row.FirstUsedAt
	if first == nil {
		first = &now
	}
	if err := db.Table(tableRefresh).Where("signature = ?", key).
		Updates(map[string]any{"active": false, "first_used_at": *first}).Error; err != nil {
		return fmt.Errorf("rotate refresh token: %w", mapErr(err))
	}
	q := db.Table(tableAccess).Where("request_id = ?", requestID)
	if row.AccessTokenSignature != "" {
		q = q.Where("signature = ?", row.AccessTokenSignature)
	}
	if err := q.Delete(&requestRow{}).Error; err != nil {
		return fmt.Errorf("rotate refresh token: revoke access token: %w", mapErr(err))
	}
	s.invalidateLookups(ctx, TokenLookups)
	return nil
}

// forUpdate is a scope that locks the selected rows on PostgreSQL; SQLite
// has one writer. (An empty clause.Expr passed to Clauses would become an
// empty WHERE condition, which SQLite rejects as a syntax error.)
func (s *Store) forUpdate(db *gorm.DB) *gorm.DB {
	if s.dialect == Postgres {
		return db.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return db
}

// RevokeRefreshToken revokes every refresh token of a grant (RFC 7009 §2.1);
// the rows are deleted, so not even a grace period revives them.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	if err := s.db(ctx).Table(tableRefresh).Where("request_id = ?", requestID).Delete(&requestRow{}).Error; err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", mapErr(err))
	}
	return nil
}

// RevokeAccessToken revokes every access token of a grant.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	if err := s.db(ctx).Table(tableAccess).Where("request_id = ?", requestID).Delete(&requestRow{}).Error; err != nil {
		return fmt.Errorf("revoke access tokens: %w", mapErr(err))
	}
	s.invalidateLookups(ctx, TokenLookups)
	return nil
}

// CreateOpenIDConnectSession stores the OIDC request under the (hashed) raw
// authorization code that fosite passes here.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, req fosite.Requester) error {
	return s.createRequest(ctx, tableOIDC, authorizeCode, req, fosite.AuthorizeCode)
}

// GetOpenIDConnectSession returns the OIDC request, its session unmarshalled
// into req's session; fosite.ErrNotFound (openid.ErrNoSessionFound) if none.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, req fosite.Requester) (fosite.Requester, error) {
	var session fosite.Session
	if req != nil {
		session = req.GetSession()
	}
	out, _, err := s.getRequest(ctx, tableOIDC, authorizeCode, session)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOpenIDConnectSession removes the OIDC request of a code.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	return s.deleteRequest(ctx, tableOIDC, authorizeCode)
}

// CreatePKCERequestSession stores the PKCE challenge of a code.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createRequest(ctx, tablePKCE, signature, req, fosite.AuthorizeCode)
}

// GetPKCERequestSession returns the PKCE request of a code.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getRequest(ctx, tablePKCE, signature, session)
	if err != nil {
		return nil, err
	}
	return req, nil
}

// DeletePKCERequestSession removes the PKCE request of a code.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteRequest(ctx, tablePKCE, signature)
}

type jtiRow struct {
	JTIHash   string `gorm:"column:jti_hash;primaryKey"`
	ExpiresAt time.Time
}

// ClientAssertionJWTValid returns fosite.ErrJTIKnown when the JTI of a client
// assertion was seen and has not expired.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	var row jtiRow
	err := s.db(ctx).Table("oauth_jtis").Where("jti_hash = ?", hashKey(jti)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check jti: %w", mapErr(err))
	}
	if row.ExpiresAt.After(s.now()) {
		return fosite.ErrJTIKnown
	}
	return nil
}

// SetClientAssertionJWT records a JTI until exp, dropping expired ones.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	db := s.db(ctx)
	if err := db.Table("oauth_jtis").Where("expires_at < ?", s.now()).Delete(&jtiRow{}).Error; err != nil {
		return fmt.Errorf("prune jtis: %w", mapErr(err))
	}
	err := db.Table("oauth_jtis").Create(&jtiRow{JTIHash: hashKey(jti), ExpiresAt: exp.UTC()}).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fosite.ErrJTIKnown
	}
	if err != nil {
		return fmt.Errorf("record jti: %w", mapErr(err))
	}
	return nil
}
