// Where identityd is and which client this app is. Edit for your setup; the
// test serves its own copy.
window.SPA_CONFIG = {
  // identityd's issuer: discovery is read from
  // <authority>/.well-known/openid-configuration.
  authority: 'http://localhost:8000',
  // The public client created with `identityd clients create --public …`.
  client_id: 'spa',
  scope: 'openid profile email offline_access',
  // Optional: the discovery document itself, to skip fetching it.
  // metadata: { issuer: '…', authorization_endpoint: '…', token_endpoint: '…', … },
};
