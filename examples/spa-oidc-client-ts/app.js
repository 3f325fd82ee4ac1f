// A single-page app signing in to identityd with oidc-client-ts: the
// authorization code flow with PKCE (S256), as a public client (no secret
// in the browser). The library reads identityd's discovery document, sends
// the browser to /api/oauth/authorize, and on /callback.html exchanges the
// code at /api/oauth/token: both fetches are cross-origin, so identityd
// must list this app's origin in IDENTITY_CORS_ORIGINS.
/* global oidc */
(function () {
  'use strict';

  const cfg = window.SPA_CONFIG;
  const origin = window.location.origin;
  const userManager = new oidc.UserManager({
    authority: cfg.authority,
    client_id: cfg.client_id,
    redirect_uri: origin + '/callback.html',
    post_logout_redirect_uri: origin + '/',
    response_type: 'code',
    scope: cfg.scope,
    // Tokens live in this tab's sessionStorage (the library's default);
    // the refresh token (offline_access) renews the access token before it
    // expires.
    automaticSilentRenew: true,
    // This page calls userinfo itself, below, to show it.
    loadUserInfo: false,
    // Optional: identityd's metadata given here instead of fetched.
    ...(cfg.metadata ? { metadata: cfg.metadata } : {}),
  });

  const $ = (id) => document.getElementById(id);

  function show(id, on) {
    const el = $(id);
    if (el) el.hidden = !on;
  }

  function showError(what, err) {
    const el = $('error');
    el.textContent = what + ': ' + (err && err.message ? err.message : String(err));
    el.hidden = false;
    console.error(what, err);
  }

  // userInfo calls identityd's userinfo endpoint with the access token
  // (a cross-origin request with an Authorization header: CORS preflight).
  async function userInfo(user) {
    const endpoint = await userManager.metadataService.getUserInfoEndpoint();
    const res = await fetch(endpoint, { headers: { Authorization: 'Bearer ' + user.access_token } });
    if (!res.ok) throw new Error('userinfo answered ' + res.status);
    return res.json();
  }

  async function home() {
    $('sign-in').addEventListener('click', () => {
      show('error', false);
      userManager.signinRedirect().catch((err) => showError('Could not start the sign-in', err));
    });
    $('sign-out').addEventListener('click', () => {
      // A state makes identityd come back with it, so the page knows it
      // returns from the sign-out (and the library checks the state).
      userManager.signoutRedirect({ state: 'signed-out' }).catch((err) => showError('Could not sign out', err));
    });

    // Back from identityd's logout page (post_logout_redirect_uri).
    const params = new URLSearchParams(window.location.search);
    if (params.has('state')) {
      try {
        await userManager.signoutRedirectCallback();
      } catch (err) {
        showError('Sign-out', err);
      }
      window.history.replaceState(null, '', '/');
    }

    const user = await userManager.getUser();
    if (!user || user.expired) {
      $('status').textContent = params.has('state') ? 'You are signed out.' : 'You are not signed in.';
      show('sign-in', true);
      return;
    }
    $('status').textContent = 'Signed in as ' + (user.profile.email || user.profile.sub) + '.';
    $('subject').textContent = user.profile.sub;
    $('claims').textContent = JSON.stringify(user.profile, null, 2);
    show('session', true);
    show('sign-out', true);
    try {
      $('userinfo').textContent = JSON.stringify(await userInfo(user), null, 2);
    } catch (err) {
      $('userinfo').textContent = '(failed)';
      showError('UserInfo', err);
    }
  }

  async function callback() {
    try {
      await userManager.signinRedirectCallback();
      window.location.replace('/');
    } catch (err) {
      $('status').textContent = 'Sign-in failed.';
      showError('Sign-in failed', err);
    }
  }

  (document.body.dataset.page === 'callback' ? callback() : home()).catch((err) => showError('Error', err));
})();
