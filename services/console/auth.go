package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/openrecon/recon/internal/casestore"
)

// Cookies.
const (
	cookieSession = "recon_session"
	cookieLogin   = "recon_login" // state, nonce and PKCE verifier of a sign-in in progress
)

// auth is OpenID Connect sign-in (authorization code + PKCE) and the
// sessions it creates.
type auth struct {
	store    *casestore.Store
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
	roles    map[string][]string
	cfg      OIDCConfig
	ttl      time.Duration
	secure   bool // Secure cookies: everywhere but plain http on loopback
	log      *slog.Logger
}

// newAuth discovers the provider and prepares the client.
func newAuth(ctx context.Context, cfg Config, issuer, clientID, secret string, store *casestore.Store, log *slog.Logger) (*auth, error) {
	roles, err := cfg.roleMap()
	if err != nil {
		return nil, err
	}
	var p *oidc.Provider
	// The provider may still be starting (a sidecar, the demo provider):
	// retry discovery for a bounded time.
	deadline := time.Now().Add(30 * time.Second)
	discovery, dctx := issuer, ctx
	if cfg.OIDC.DiscoveryURL != "" && issuer == cfg.OIDC.Issuer {
		// Discovery at the back-channel address; the metadata must still
		// name the issuer the tokens carry.
		discovery, dctx = strings.TrimRight(cfg.OIDC.DiscoveryURL, "/"), oidc.InsecureIssuerURLContext(ctx, issuer)
	}
	for {
		p, err = oidc.NewProvider(dctx, discovery)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("OpenID provider %s: discovery at %s: %w", issuer, discovery, err)
	}
	pub := cfg.publicURL()
	u, _ := url.Parse(pub)
	host := u.Hostname()
	loopback := host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
	return &auth{store: store, verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
		oauth: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: pub + "/auth/callback",
			Scopes: cfg.OIDC.Scopes},
		roles: roles, cfg: cfg.OIDC, ttl: cfg.SessionTTL, secure: u.Scheme == "https" || !loopback, log: log}, nil
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness failed: nothing is safe any more
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// safeNext keeps a post-sign-in destination on this console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

type loginState struct {
	State, Nonce, Verifier, Next string
}

// login starts a sign-in: a redirect to the provider with state, nonce and
// the PKCE challenge; their secrets wait in a short-lived cookie.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	st := loginState{State: random(24), Nonce: random(24), Verifier: oauth2.GenerateVerifier(), Next: safeNext(r.URL.Query().Get("next"))}
	b, _ := json.Marshal(st)
	http.SetCookie(w, &http.Cookie{Name: cookieLogin, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/auth/", MaxAge: 600,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, a.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

// callback finishes a sign-in: the state matches, the code is exchanged
// with the PKCE verifier, the ID token verifies (issuer, audience, expiry,
// signature, nonce), the groups map to at least one role; then a session.
func (a *auth) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string, err error) {
		a.log.Warn("sign-in failed", "reason", msg, "err", err)
		errorPage(w, r, code, "Sign-in failed", msg)
	}
	c, err := r.Cookie(cookieLogin)
	if err != nil {
		fail(http.StatusBadRequest, "The sign-in took too long or was started elsewhere. Please sign in again.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieLogin, Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	var st loginState
	raw, _ := base64.RawURLEncoding.DecodeString(c.Value)
	if err := json.Unmarshal(raw, &st); err != nil || st.State == "" || r.URL.Query().Get("state") != st.State {
		fail(http.StatusBadRequest, "The sign-in response does not belong to this browser's sign-in. Please sign in again.", err)
		return
	}
	if e := r.URL.Query().Get("error"); e != "" {
		fail(http.StatusUnauthorized, "The identity provider refused the sign-in: "+e+" "+r.URL.Query().Get("error_description"), nil)
		return
	}
	tok, err := a.oauth.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		fail(http.StatusUnauthorized, "The identity provider did not accept the sign-in code.", err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(r.Context(), rawID)
	if err != nil {
		fail(http.StatusUnauthorized, "The identity provider's ID token did not verify.", err)
		return
	}
	if idt.Nonce != st.Nonce {
		fail(http.StatusUnauthorized, "The ID token was not issued for this sign-in (nonce).", nil)
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail(http.StatusUnauthorized, "The ID token's claims could not be read.", err)
		return
	}
	user := claimString(claims, a.cfg.UserClaim, "email", "sub")
	name := claimString(claims, "name", a.cfg.UserClaim, "email", "sub")
	roles := rolesOf(claimStrings(claims[a.cfg.GroupsClaim]), a.roles)
	if len(roles) == 0 {
		fail(http.StatusForbidden, fmt.Sprintf("You are signed in as %s, but none of your groups (claim %q) gives a role in recon. Ask for one of the groups in the console's oidc-role-map.", user, a.cfg.GroupsClaim), nil)
		return
	}
	id := random(32)
	sess := casestore.Session{User: user, Name: name, Roles: roles, CSRF: random(24), Expires: time.Now().Add(a.ttl)}
	if err := a.store.CreateSession(r.Context(), hashID(id), sess); err != nil {
		fail(http.StatusInternalServerError, "The session could not be stored.", err)
		return
	}
	if err := a.store.Audit(r.Context(), user, "sign_in", map[string]any{"roles": roles}); err != nil {
		a.log.Error("audit of a sign-in failed", "user", user, "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: id, Path: "/", MaxAge: int(a.ttl.Seconds()), HttpOnly: true,
		Secure: a.secure, SameSite: http.SameSiteLaxMode})
	a.log.Info("signed in", "user", user, "roles", roles)
	http.Redirect(w, r, st.Next, http.StatusFound)
}

// logout ends the session (a POST with the CSRF token).
func (a *auth) logout(w http.ResponseWriter, r *http.Request, s *casestore.Session) {
	if c, err := r.Cookie(cookieSession); err == nil {
		_ = a.store.DeleteSession(r.Context(), hashID(c.Value))
	}
	_ = a.store.Audit(r.Context(), s.User, "sign_out", nil)
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
}

// session returns the request's session, or nil.
func (a *auth) session(r *http.Request) *casestore.Session {
	c, err := r.Cookie(cookieSession)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := a.store.SessionByHash(r.Context(), hashID(c.Value))
	if err != nil {
		if !errors.Is(err, casestore.ErrNotFound) {
			a.log.Error("session lookup failed", "err", err)
		}
		return nil
	}
	return s
}

func claimString(claims map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := claims[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// claimStrings reads a groups claim: a list of strings, or one string.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// has reports whether a session has any of the roles.
func has(s *casestore.Session, roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(s.Roles, r) {
			return true
		}
	}
	return false
}
