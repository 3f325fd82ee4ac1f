package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// RotateRefreshTokenAndIssue is a refresh grant's whole write (RFC 6749 §6,
// fosite's RefreshTokenGrantHandler.PopulateTokenEndpointResponse) as one
// atomic step: RotateRefreshToken(ctx, requestID, signature), then
// CreateAccessTokenSession(ctx, accessSignature, access), then
// CreateRefreshTokenSession(ctx, refreshSignature, accessSignature, refresh),
// with the outcomes of those three calls run in one transaction:
//
//   - strict rotation (no grace period): the presented token must still be
//     active, else fosite.ErrSerializationFailure (a concurrent refresh won)
//     and nothing is written; every access token of the grant is revoked;
//   - graceful rotation: first_used_at is stamped once and only the access
//     token issued beside the presented one is revoked (every one of the
//     grant's when the pair is unknown); an unknown token is
//     fosite.ErrNotFound.
//
// On PostgreSQL outside a transaction it is one statement (data-modifying
// CTEs on one snapshot; the statement is its own transaction): one round
// trip instead of BEGIN, four statements and COMMIT. Inside the caller's
// transaction, and on SQLite (one writer, no network), it runs the three
// calls in a transaction. Either way a session that access and refresh
// share is marshalled once.
func (s *Store) RotateRefreshTokenAndIssue(ctx context.Context, requestID, signature, accessSignature string, access fosite.Requester, refreshSignature string, refresh fosite.Requester) error {
	var sessionData string
	if sess := access.GetSession(); sess != nil && sess == refresh.GetSession() {
		data, err := json.Marshal(sess)
		if err != nil {
			return fmt.Errorf("rotate refresh token: marshal session: %w", err)
		}
		sessionData = string(data)
	}
	at, err := s.newRowWithSession(accessSignature, access, fosite.AccessToken, sessionData)
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	rtRow, err := s.newRowWithSession(refreshSignature, refresh, fosite.RefreshToken, sessionData)
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	rt := refreshRow{Request: rtRow}
	if accessSignature != "" {
		rt.AccessTokenSignature = hashKey(accessSignature)
	}

	if _, inTx := ctx.Value(txKey{}).(*txState); inTx || s.dialect != Postgres {
		return s.InTx(ctx, func(ctx context.Context) error {
			if err := s.RotateRefreshToken(ctx, requestID, signature); err != nil {
				return err
			}
			if err := s.db(ctx).Table(tableAccess).Create(&at).Error; err != nil {
				return fmt.Errorf("create %s: %w", tableAccess, mapErr(err))
			}
			if err := s.db(ctx).Table(tableRefresh).Create(&rt).Error; err != nil {
				return fmt.Errorf("create refresh token: %w", mapErr(err))
			}
			return nil
		})
	}

	// One statement, its parameters in the order of its placeholders: the
	// rotation's, then each new row's (rotateIssueSQL).
	args := make([]any, 0, 3+2*14+1)
	q := rotateStrictSQL
	if s.grace > 0 {
		q = rotateGracefulSQL
		args = append(args, s.now())
	}
	args = append(args, hashKey(signature), requestID)
	for _, r := range []*requestRow{&at, &rt.Request} {
		args = append(args, r.Signature, r.RequestID, r.TenantID, r.SessionID, r.ClientID, r.Subject, r.RequestedAt,
			r.ExpiresAt, r.Scopes, r.GrantedScopes, r.Audience, r.GrantedAudience, r.FormData, r.SessionData)
	}
	args = append(args, rt.AccessTokenSignature)
	var out struct{ Rotated, Revoked, Issued int64 }
	if err := scanOne(s.db(ctx).Raw(q, args...), &out.Rotated, &out.Revoked, &out.Issued); err != nil {
		return fmt.Errorf("rotate refresh token: %w", mapErr(err))
	}
	switch {
	case out.Rotated == 0 && s.grace == 0:
		return fosite.ErrSerializationFailure.WithHint("The refresh token was rotated by a concurrent request.")
	case out.Rotated == 0:
		return fosite.ErrNotFound
	case out.Issued != 2:
		return fmt.Errorf("rotate refresh token: issued %d tokens, want 2", out.Issued)
	}
	if out.Revoked > 0 {
		// A revoked access token may sit in an instance's lookup cache. The
		// statement committed: bump now.
		s.invalidateLookups(ctx, TokenLookups)
	}
	return nil
}

// scanOne reads the one row q returns into dest. It reads through Rows, not
// GORM's Scan: Scan renders every statement with its values for a trace
// (logger.Recorder), which for this one allocates more than the rest of
// the refresh.
func scanOne(q *gorm.DB, dest ...any) error {
	rows, err := q.Rows()
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New("no row")
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}

// The one-statement rotations of PostgreSQL. Every CTE runs on the
// statement's snapshot: the DELETE cannot see the access token the INSERT
// adds, and both INSERTs select FROM old, so they add nothing when the
// rotation matched no row. Under READ COMMITTED a concurrent rotation of the
// same token waits for the row lock, then re-checks "active" on the new
// version and matches nothing. The timestamps are cast: a parameter in a
// SELECT list has no type of its own.
const (
	// rotateIssueSQL inserts the new pair, each row's values in the order
	// of requestRow's columns, then the refresh token's access token.
	rotateIssueSQL = `,
issued_access AS (
	INSERT INTO oauth_access_tokens (signature, request_id, tenant_id, session_id, client_id, subject, requested_at,
		expires_at, scopes, granted_scopes, audience, granted_audience, form_data, session_data, active)
	SELECT ?, ?, ?, ?, ?, ?, CAST(? AS timestamptz), CAST(? AS timestamptz), ?, ?, ?, ?, ?, ?, true
	FROM old
	RETURNING 1
),
issued_refresh AS (
	INSERT INTO oauth_refresh_tokens (signature, request_id, tenant_id, session_id, client_id, subject, requested_at,
		expires_at, scopes, granted_scopes, audience, granted_audience, form_data, session_data, active, access_token_signature)
	SELECT ?, ?, ?, ?, ?, ?, CAST(? AS timestamptz), CAST(? AS timestamptz), ?, ?, ?, ?, ?, ?, true, ?
	FROM old
	RETURNING 1
)
SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM revoked),
	(SELECT count(*) FROM issued_access) + (SELECT count(*) FROM issued_refresh)`

	// rotateStrictSQL (signature, request id): the token must be active;
	// every access token of the grant goes.
	rotateStrictSQL = `WITH old AS (
	UPDATE oauth_refresh_tokens SET active = false
	WHERE signature = ? AND request_id = ? AND active
	RETURNING request_id
),
revoked AS (
	DELETE FROM oauth_access_tokens WHERE request_id IN (SELECT request_id FROM old)
	RETURNING 1
)` + rotateIssueSQL

	// rotateGracefulSQL (now, signature, request id): first_used_at is
	// stamped once (the window is never extended); only the paired access
	// token goes, or all of the grant's when the pair is unknown.
	rotateGracefulSQL = `WITH old AS (
	UPDATE oauth_refresh_tokens SET active = false, first_used_at = COALESCE(first_used_at, CAST(? AS timestamptz))
	WHERE signature = ? AND request_id = ?
	RETURNING request_id, access_token_signature
),
revoked AS (
	DELETE FROM oauth_access_tokens a USING old
	WHERE a.request_id = old.request_id AND (old.access_token_signature = '' OR a.signature = old.access_token_signature)
	RETURNING 1
)` + rotateIssueSQL
)
