package oauth

import "github.com/ory/fosite/handler/pkce"

// PKCEStorage is fosite's PKCE storage, named here so Storage reads as a list.
type PKCEStorage = pkce.PKCERequestStorage
