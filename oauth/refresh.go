package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// refreshHandler is fosite's refresh-token grant with the scope parameter
// honoured (RFC 6749 §6), which fosite v0.49.0 ignores:
//
//   - "The requested scope MUST NOT include any scope not originally granted
//     by the resource owner": a scope outside the grant is invalid_scope.
//   - "if omitted is treated as equal to the scope originally granted": no
//     scope parameter behaves exactly as fosite does.
//   - "If a new refresh token is issued, the refresh token scope MUST be
//     identical to that of the refresh token included by the client in the
//     request": the access token (and the ID token, only when openid stays)
//     carries the narrower scope, while the rotated refresh token keeps the
//     original grant, so a later refresh may ask for the whole grant again.
//
// Everything else (reuse detection, client binding, lifespans) is fosite's;
// the rotation's writes are one storage call (PopulateTokenEndpointResponse).
type refreshHandler struct {
	*oauth2.RefreshTokenGrantHandler
	rotation refreshRotationStorage
}

var _ fosite.TokenEndpointHandler = (*refreshHandler)(nil)

// refreshFactory is compose.OAuth2RefreshTokenGrantFactory with the scope
// parameter honoured and the one-step rotation (store must implement
// refreshRotationStorage, as Storage requires).
func refreshFactory(config fosite.Configurator, store any, strategy any) any {
	return &refreshHandler{RefreshTokenGrantHandler: &oauth2.RefreshTokenGrantHandler{
		AccessTokenStrategy:    strategy.(oauth2.AccessTokenStrategy),
		RefreshTokenStrategy:   strategy.(oauth2.RefreshTokenStrategy),
		TokenRevocationStorage: store.(oauth2.TokenRevocationStorage),
		Config:                 config,
	}, rotation: store.(refreshRotationStorage)}
}

// requestedRefreshScope is the scope parameter of a refresh request.
func requestedRefreshScope(r fosite.AccessRequester) fosite.Arguments {
	return fosite.RemoveEmpty(strings.Split(r.GetRequestForm().Get("scope"), " "))
}

// HandleTokenEndpointRequest validates the refresh token as fosite does,
// then narrows the granted scopes to the requested ones.
func (h *refreshHandler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if err := h.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, r); err != nil {
		return err
	}
	requested := requestedRefreshScope(r)
	if len(requested) == 0 {
		return nil
	}
	granted := r.GetGrantedScopes()
	for _, sc := range requested {
		if !granted.Has(sc) {
			return fosite.ErrInvalidScope.WithHintf("The requested scope '%s' was not originally granted.", sc)
		}
	}
	ar, ok := r.(*fosite.AccessRequest)
	if !ok {
		return fosite.ErrServerError.WithHint("unexpected access request type")
	}
	narrowed := make(fosite.Arguments, 0, len(requested))
	for _, sc := range granted { // the grant's order, without duplicates
		if requested.Has(sc) {
			narrowed = append(narrowed, sc)
		}
	}
	ar.GrantedScope = narrowed
	ar.RequestedScope = narrowed
	return nil
}

// refreshRotationStorage is the refresh grant's one storage call
// (storage.Store): RotateRefreshToken, then CreateAccessTokenSession and
// CreateRefreshTokenSession of the new pair, atomically, with the same
// outcomes (fosite.ErrSerializationFailure when a concurrent refresh won,
// fosite.ErrNotFound for an unknown token).
type refreshRotationStorage interface {
	RotateRefreshTokenAndIssue(ctx context.Context, requestID, signature, accessSignature string, access fosite.Requester, refreshSignature string, refresh fosite.Requester) error
}

// PopulateTokenEndpointResponse is fosite's (RFC 6749 §6: a new access
// token and a rotated refresh token), with two changes. The storage work is
// one RotateRefreshTokenAndIssue instead of RotateRefreshToken,
// CreateAccessTokenSession and CreateRefreshTokenSession in a transaction
// (on PostgreSQL one statement instead of six round trips). And with a
// narrowed scope the access token is stored with it and the refresh token
// with the original grant.
func (h *refreshHandler) PopulateTokenEndpointResponse(ctx context.Context, requester fosite.AccessRequester, responder fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, requester) {
		return fosite.ErrUnknownRequest
	}
	signature := h.RefreshTokenStrategy.RefreshTokenSignature(ctx, requester.GetRequestForm().Get("refresh_token"))
	accessReq := requester.Sanitize([]string{})
	accessReq.SetID(requester.GetID())
	refreshReq := accessReq
	if len(requestedRefreshScope(requester)) > 0 {
		original, err := h.TokenRevocationStorage.GetRefreshTokenSession(ctx, signature, NewSession())
		if err != nil {
			return storageError(err)
		}
		refreshReq = requester.Sanitize([]string{})
		refreshReq.SetID(requester.GetID())
		rr, ok := refreshReq.(*fosite.Request)
		if !ok {
			return fosite.ErrServerError.WithHint("unexpected request type")
		}
		rr.GrantedScope = append(fosite.Arguments{}, original.GetGrantedScopes()...)
		rr.RequestedScope = append(fosite.Arguments{}, original.GetRequestedScopes()...)
	}

	accessToken, accessSignature, err := h.AccessTokenStrategy.GenerateAccessToken(ctx, requester)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	refreshToken, refreshSignature, err := h.RefreshTokenStrategy.GenerateRefreshToken(ctx, requester)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
	}
	if err := h.rotation.RotateRefreshTokenAndIssue(ctx, requester.GetID(), signature, accessSignature, accessReq, refreshSignature, refreshReq); err != nil {
		return storageError(err)
	}

	responder.SetAccessToken(accessToken)
	responder.SetTokenType("bearer")
	lifespan := fosite.GetEffectiveLifespan(requester.GetClient(), fosite.GrantTypeRefreshToken, fosite.AccessToken, h.Config.GetAccessTokenLifespan(ctx))
	if exp := requester.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		lifespan = time.Until(exp)
	}
	responder.SetExpiresIn(lifespan)
	responder.SetScopes(requester.GetGrantedScopes())
	responder.SetExtra("refresh_token", refreshToken)
	return nil
}

// storageError maps a storage failure during a refresh as fosite does: a
// concurrent use of the same token is a retryable client error (the token
// endpoint answers it invalid_grant), anything else a server error.
func storageError(err error) error {
	switch {
	case errors.Is(err, fosite.ErrSerializationFailure):
		return fosite.ErrInvalidRequest.WithWrap(err).WithDebug(err.Error()).
			WithHint("Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request.")
	case errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrInactiveToken):
		return fosite.ErrInvalidRequest.WithWrap(err).WithDebug(err.Error()).
			WithHint("Failed to refresh token. Please retry the request.")
	}
	return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}
