package oauth

import (
	"maps"
	"slices"

	"github.com/identityd/identityd/models"
)

// UserClaims are the claims about u that the granted scopes release (OpenID
// Connect Core §5.4): email and email_verified with "email"; name,
// given_name, family_name, locale, zoneinfo, picture and updated_at (unix
// seconds, Core §5.1) with "profile"; phone_number and
// phone_number_verified with "phone"; and tenant_id always. Both the ID
// token and the UserInfo response are built from it, so they never differ.
// A claim with no value is left out, as Core §5.3.2 asks ("If a Claim is
// not returned, that Claim Name SHOULD be omitted from the JSON object
// representing the Claims; it SHOULD NOT be present with a null or empty
// string value"). sub is the caller's: the token's subject.
// userClaimNames are the claims UserClaims may release (tenant_id aside).
var userClaimNames = []string{"email", "email_verified", "name", "given_name", "family_name", "locale", "zoneinfo",
	"picture", "updated_at", "phone_number", "phone_number_verified"}

// SetUserClaims replaces the user claims in claims (an ID token session's
// extra claims) with UserClaims(u, scopes): a refreshed ID token tells what
// is true now (a verified address, a changed name), not what was true at
// the first sign-in.
func SetUserClaims(claims map[string]any, u *models.User, scopes []string) {
	for _, k := range userClaimNames {
		delete(claims, k)
	}
	maps.Copy(claims, UserClaims(u, scopes))
}

func UserClaims(u *models.User, scopes []string) map[string]any {
	claims := map[string]any{"tenant_id": u.TenantID}
	put := func(name, v string) {
		if v != "" {
			claims[name] = v
		}
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		put("name", u.Name)
		put("given_name", u.GivenName)
		put("family_name", u.FamilyName)
		put("locale", u.Locale)
		put("zoneinfo", u.Zoneinfo)
		put("picture", u.Picture)
		if u.ProfileUpdatedAt != nil {
			claims["updated_at"] = u.ProfileUpdatedAt.Unix()
		}
	}
	if slices.Contains(scopes, "phone") && u.PhoneNumber != "" {
		claims["phone_number"] = u.PhoneNumber
		claims["phone_number_verified"] = u.PhoneNumberVerified
	}
	return claims
}
