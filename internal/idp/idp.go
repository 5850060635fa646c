// Package idp is the embedded OpenID provider that `recon up` and the tests
// start so that the console's real sign-in flow (authorization code with
// PKCE, discovery, JWKS, ID tokens with a groups claim) runs on a laptop
// without an identity provider. It is built on the certified OP library
// github.com/zitadel/oidc/v3/pkg/op; this package adds only an in-memory
// store, the demo users and a login form (fields username and password).
//
// It binds to loopback only and is never the production identity source:
// production sign-in goes to the organisation's provider (Okta, Entra ID,
// ...) through the console's OIDC settings.
package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a demo user; its groups become the groups claim.
type User struct {
	Username string
	Name     string
	Groups   []string
}

// DemoUsers are the users of docs/design.md §9: one per role (the rules
// editor of §10 too), and a second preparer (maker-checker needs two
// people), each in the group of its role.
func DemoUsers() []User {
	return []User{
		{Username: "viewer", Name: "Vera Viewer", Groups: []string{"viewer"}},
		{Username: "preparer", Name: "Pat Preparer", Groups: []string{"preparer"}},
		{Username: "preparer2", Name: "Sam Second-Preparer", Groups: []string{"preparer"}},
		{Username: "approver", Name: "Alex Approver", Groups: []string{"approver"}},
		{Username: "admin", Name: "Ada Admin", Groups: []string{"admin"}},
		{Username: "editor", Name: "Eli Editor", Groups: []string{"rules_editor"}},
	}
}

// Config is what the provider serves.
type Config struct {
	// Addr is the loopback address to listen on (host:port; port 0 picks one).
	Addr string
	// Users and their one shared Password.
	Users    []User
	Password string
	// The one client: the console.
	ClientID, ClientSecret string
	RedirectURIs           []string
	// IDTokenLifetime bounds the console's session (default 8h).
	IDTokenLifetime time.Duration
}

// Provider is a running embedded provider.
type Provider struct {
	Issuer string
	srv    *http.Server
	done   chan error
}

// Start listens on cfg.Addr (loopback only) and serves the provider.
func Start(cfg Config, log *slog.Logger) (*Provider, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded OpenID provider: address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded OpenID provider: address %q is not loopback: it is for laptops and tests, never a production identity source", cfg.Addr)
	}
	if cfg.Password == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || len(cfg.RedirectURIs) == 0 {
		return nil, errors.New("embedded OpenID provider: password, client id, client secret and redirect URIs are required")
	}
	if cfg.IDTokenLifetime <= 0 {
		cfg.IDTokenLifetime = 8 * time.Hour
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded OpenID provider: %w", err)
	}
	issuer := "http://" + ln.Addr().String()
	st, err := newStorage(cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		ln.Close()
		return nil, err
	}
	prov, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true, AuthMethodPost: true,
		SupportedUILocales: []language.Tag{language.English}}, st, op.StaticIssuer(issuer), op.WithAllowInsecure(),
		op.WithLogger(log.With("component", "oidc-provider")))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded OpenID provider: %w", err)
	}
	mux := http.NewServeMux()
	lg := &login{st: st, callback: op.AuthCallbackURL(prov), origins: originsOf(cfg.RedirectURIs)}
	interceptor := op.NewIssuerInterceptor(prov.IssuerFromRequest)
	mux.HandleFunc("GET /login", lg.form)
	mux.Handle("POST /login", interceptor.HandlerFunc(lg.check))
	mux.Handle("/", prov)
	p := &Provider{Issuer: issuer, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { p.done <- p.srv.Serve(ln) }()
	log.Info("embedded OpenID provider started (loopback only, demo users; not a production identity source)", "issuer", issuer)
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}

// originsOf lists the scheme://host[:port] of each URL, space separated.
func originsOf(urls []string) string {
	var out []string
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil && p.Host != "" {
			out = append(out, p.Scheme+"://"+p.Host)
		}
	}
	return strings.Join(out, " ")
}

// login is the provider's sign-in form.
type login struct {
	st       *storage
	callback func(context.Context, string) string
	origins  string // the client's redirect origins, for the form's CSP
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in: recon demo identity provider</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.4 system-ui,sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:20rem}
h1{font-size:1.2rem;margin:0 0 .3rem}p{color:#555;font-size:.85rem;margin:.2rem 0 1rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #bbb;border-radius:4px}
button{margin-top:1rem;width:100%;padding:.6rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px;font-weight:600}
.err{color:#b91c1c;font-weight:600}
</style></head><body>
<form method="post" action="/login">
<h1>recon: sign in</h1>
<p>Demo identity provider for this laptop (users viewer, preparer, preparer2, approver, admin, editor).</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<input type="hidden" name="id" value="{{.ID}}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" autofocus required value="{{.Username}}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>`))

func (l *login) render(w http.ResponseWriter, id, username, msg string, code int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The form posts here and is redirected to the client: browsers apply
	// form-action to the redirect too, so the client's origins are allowed.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "+l.origins)
	w.WriteHeader(code)
	_ = loginPage.Execute(w, struct{ ID, Username, Error string }{id, username, msg})
}

func (l *login) form(w http.ResponseWriter, r *http.Request) {
	l.render(w, r.URL.Query().Get("authRequestID"), "", "", http.StatusOK)
}

func (l *login) check(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, user := r.FormValue("id"), r.FormValue("username")
	if err := l.st.checkPassword(id, user, r.FormValue("password")); err != nil {
		l.render(w, id, user, err.Error(), http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

// storage is the provider's in-memory state: the users, the client, the
// pending authorization requests and the issued access tokens.
type storage struct {
	cfg   Config
	users map[string]User
	key   signingKey

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]string // code -> request id
	tokens   map[string]accessToken
}

type accessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

func newStorage(cfg Config) (*storage, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	users := map[string]User{}
	for _, u := range cfg.Users {
		users[u.Username] = u
	}
	return &storage{cfg: cfg, users: users, key: signingKey{id: randomID(), key: k},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]accessToken{}}, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var errUnknownRequest = errors.New("sign-in request not found or expired: start again from the console")

func (s *storage) checkPassword(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.requests[id]
	if req == nil {
		return errUnknownRequest
	}
	_, ok := s.users[username]
	if !ok || subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password)) != 1 {
		return errors.New("wrong user name or password")
	}
	req.subject, req.done, req.authTime = username, true, time.Now()
	return nil
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{id: randomID(), clientID: r.ClientID, redirectURI: r.RedirectURI, scopes: r.Scopes, state: r.State,
		nonce: r.Nonce, responseType: r.ResponseType, responseMode: r.ResponseMode, subject: userID, created: time.Now()}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, old := range s.requests { // forget abandoned sign-ins
		if time.Since(old.created) > 30*time.Minute {
			delete(s.requests, id)
		}
	}
	s.requests[req.id] = req
	return req, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.requests[id]; r != nil {
		return r, nil
	}
	return nil, errUnknownRequest
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code not found")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	clientID := ""
	if a, ok := r.(*authRequest); ok {
		clientID = a.clientID
	}
	id, exp := randomID(), time.Now().Add(s.cfg.IDTokenLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if time.Now().After(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.tokens[id] = accessToken{subject: r.GetSubject(), clientID: clientID, scopes: r.GetScopes(), expires: exp}
	return id, exp, nil
}

var errNoRefresh = errors.New("refresh tokens are not issued by the embedded provider")

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNoRefresh
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errNoRefresh
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.tokens, k)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, token, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return &s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) { return []op.Key{publicKey{&s.key}}, nil }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.cfg.ClientID {
		return nil, fmt.Errorf("client %q not found", id)
	}
	return &client{cfg: s.cfg}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if id != s.cfg.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1 {
		return errors.New("invalid client id or secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.userinfo(info, r.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token is invalid or has expired")
	}
	return s.userinfo(info, t.subject, t.scopes)
}

func (s *storage) userinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.users[subject]
	if !ok {
		return fmt.Errorf("user %q not found", subject)
	}
	info.Subject = u.Username
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername, info.Name = u.Username, u.Name
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email, info.EmailVerified = u.Username+"@demo.invalid", oidc.Bool(true)
	}
	info.AppendClaims("groups", u.Groups)
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return errors.New("introspection is not offered by the embedded provider")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile is not offered by the embedded provider")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not offered by the embedded provider")
}

func (s *storage) Health(context.Context) error { return nil }

// authRequest is one sign-in in progress.
type authRequest struct {
	id, clientID, redirectURI, state, nonce, subject string
	scopes                                           []string
	responseType                                     oidc.ResponseType
	responseMode                                     oidc.ResponseMode
	challenge                                        *oidc.CodeChallenge
	done                                             bool
	authTime, created                                time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// client is the console as the provider's one client: a confidential web
// application using the authorization code flow.
type client struct{ cfg Config }

func (c *client) GetID() string                    { return c.cfg.ClientID }
func (c *client) RedirectURIs() []string           { return c.cfg.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return nil }
func (c *client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.cfg.IDTokenLifetime }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(string) bool           { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }
