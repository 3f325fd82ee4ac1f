// Passkeys on the sign-in, two-step and account security pages (issue 12
// §2). Everything here is an addition: without JavaScript or WebAuthn the
// passkey controls stay hidden and every password form works as before.
// The server's options come as JSON with base64url members; the answer
// goes back to the server as JSON in a hidden form field (or a fetch to
// the JSON API for the begin steps), with the page's CSRF token.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    pk.user.id = toBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return { publicKey: pk };
  }

  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      clientExtensionResults: {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) {
          throw new Error(data.message || "Something went wrong. Try again.");
        }
        return data;
      });
    });
  }

  function say(el, msg) {
    if (el) {
      el.textContent = msg;
      el.hidden = false;
    }
  }

  function failed(status, err) {
    if (err && err.name === "NotAllowedError") {
      say(status, "The passkey was not used. Try again, or use your password.");
    } else {
      say(status, (err && err.message) || "The passkey did not work. Try again.");
    }
  }

  function show(id) {
    var el = document.getElementById(id);
    if (el) {
      el.hidden = false;
    }
    return el;
  }

  // The sign-in page: a discoverable passkey of the organisation typed.
  var login = show("passkey-login");
  if (login) {
    var loginForm = document.getElementById("passkey-login-form");
    var loginStatus = document.getElementById("passkey-login-status");
    login.addEventListener("click", function () {
      var tenant = document.querySelector("[name=tenant]");
      if (!tenant || !tenant.value.trim()) {
        say(loginStatus, "Enter your organisation first.");
        return;
      }
      loginForm.elements.tenant.value = tenant.value.trim();
      var remember = document.querySelector("[name=remember]");
      loginForm.elements.remember.value = remember && remember.checked ? "1" : "";
      post("/api/auth/webauthn/login/begin", { tenant: tenant.value.trim() })
        .then(function (o) { return navigator.credentials.get(requestOptions(o)); })
        .then(function (cred) {
          loginForm.elements.credential.value = answer(cred);
          loginForm.submit();
        })
        .catch(function (err) { failed(loginStatus, err); });
    });
  }

  // The two-step page: a passkey as the second step.
  var second = show("passkey-2fa");
  if (second) {
    var form = document.getElementById("passkey-2fa-form");
    var status2 = document.getElementById("passkey-2fa-status");
    second.addEventListener("click", function () {
      var trust = document.querySelector("[name=trust_device]");
      form.elements.trust_device.value = trust && trust.checked ? "1" : "";
      post("/api/auth/webauthn/2fa/begin", { challenge: form.elements.challenge.value })
        .then(function (o) { return navigator.credentials.get(requestOptions(o)); })
        .then(function (cred) {
          form.elements.credential.value = answer(cred);
          form.submit();
        })
        .catch(function (err) { failed(status2, err); });
    });
  }

  // The account page: the begin form is shown only where passkeys work;
  // after it, the options are in the page and one click creates the key.
  show("passkey-add");
  var create = document.getElementById("passkey-create");
  if (create) {
    var finish = document.getElementById("passkey-finish");
    var status3 = document.getElementById("passkey-create-status");
    var button = show("passkey-create-button");
    button.addEventListener("click", function () {
      var opts;
      try {
        opts = creationOptions(JSON.parse(create.getAttribute("data-options")));
      } catch (e) {
        say(status3, "Start again: the page is out of date.");
        return;
      }
      navigator.credentials.create(opts)
        .then(function (cred) {
          finish.elements.credential.value = answer(cred);
          finish.submit();
        })
        .catch(function (err) { failed(status3, err); });
    });
  }
})();
