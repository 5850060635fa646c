package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/workflow"
)

// The HTTP plumbing every page and API handler shares: JSON and error
// answers (a workflow refusal mapped to its status here and only here),
// templates, static files.

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// apiError writes the API's error form {"error": ..., "code": ...}.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

// fail answers an error from the console's logic.
func (s *Service) fail(w http.ResponseWriter, err error) {
	if status, code, msg, ok := refusal(err); ok {
		apiError(w, status, code, msg)
		return
	}
	switch {
	case errors.Is(err, casestore.ErrBadFilter):
		apiError(w, http.StatusBadRequest, "bad_filter", err.Error())
	case errors.Is(err, casestore.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, casestore.ErrConflict):
		apiError(w, http.StatusConflict, "conflict", err.Error())
	default:
		s.log.Error("console request failed", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "internal error (logged)")
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// each maps f over xs (never nil, so JSON lists are [] when empty).
func each[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// nonNil is xs, or an empty list for nil (JSON lists are [] when empty).
func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

//go:embed web/templates/*.html web/static/* openapi.json
var webFS embed.FS

var funcs = template.FuncMap{
	"join": strings.Join,
	"has": func(ss *casestore.Session, roles ...string) bool {
		return ss != nil && has(ss, roles...)
	},
	"title": func(s string) string {
		s = strings.ReplaceAll(s, "_", " ")
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"query": func(kv ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				v.Set(kv[i], kv[i+1])
			}
		}
		return template.URL(v.Encode())
	},
	"short": short,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"money": money.Format,
	// union is the keys of two counts (a diff's gained and lost).
	"union": func(a, b map[string]int) map[string]bool {
		out := map[string]bool{}
		for k := range a {
			out[k] = true
		}
		for k := range b {
			out[k] = true
		}
		return out
	},
	"diffCounts": diffCounts,
	"zero": func(s string) bool {
		d, err := money.Parse(s)
		return err == nil && d.IsZero()
	},
	"neg": func(s string) bool { return strings.HasPrefix(s, "-") },
	"age": func(n int) string {
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	},
}

// pages are the parsed page templates, each with the layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	names, _ := fs.Glob(webFS, "web/templates/*.html")
	for _, n := range names {
		base := strings.TrimPrefix(n, "web/templates/")
		if base == "layout.html" {
			continue
		}
		out[strings.TrimSuffix(base, ".html")] = template.Must(template.New(base).Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", n))
	}
	return out
}()

func staticHandler() http.HandlerFunc {
	sub, _ := fs.Sub(webFS, "web")
	files := http.FileServer(http.FS(sub))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := webFS.ReadFile("openapi.json")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// view is what every page template gets.
type view struct {
	S            *casestore.Session
	Title, Nav   string
	Flash, Error string
	Reasons      []string // reason codes
	Data         any
}

// render writes a page; the template runs into a buffer first so that an
// error never sends half a page.
func (s *Service) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	v.Reasons = s.cfg.ReasonCodes
	if v.Flash == "" {
		v.Flash = r.URL.Query().Get("msg")
	}
	if v.Error == "" {
		v.Error = r.URL.Query().Get("err")
	}
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("page template failed", "page", name, "err", err)
		http.Error(w, "internal error (logged)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// errorPage is a page-level error, for the pages and sign-in.
func errorPage(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	var buf bytes.Buffer
	_ = pages["error"].ExecuteTemplate(&buf, "layout", view{Title: title, Data: msg})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) signedOut(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	_ = pages["signed_out"].ExecuteTemplate(&buf, "layout", view{Title: "Signed out"})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// pageFail shows an error on a page.
func (s *Service) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	if status, _, msg, ok := refusal(err); ok {
		errorPage(w, r, status, http.StatusText(status), msg)
		return
	}
	switch {
	case errors.Is(err, casestore.ErrNotFound):
		errorPage(w, r, http.StatusNotFound, "Not found", err.Error())
	case errors.Is(err, casestore.ErrBadFilter):
		errorPage(w, r, http.StatusBadRequest, "Bad filter", err.Error())
	default:
		s.log.Error("console page failed", "err", err)
		errorPage(w, r, http.StatusInternalServerError, "Internal error", "Something went wrong; it was logged.")
	}
}

type kv struct {
	K string
	N int64
}

func sorted(m map[string]int64) []kv {
	out := make([]kv, 0, len(m))
	for k, n := range m {
		out = append(out, kv{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || (out[i].N == out[j].N && out[i].K < out[j].K) })
	return out
}

func short(id string) string {
	if len(id) > 14 {
		return id[:14] + "…"
	}
	return id
}

func title(s string) string { return funcs["title"].(func(string) string)(s) }

// The requests' bodies are the workflow's (the API contract, docs/design.md §9).
type (
	// ActionRequest is the body of POST /api/v1/actions (and of the
	// pages' forms).
	ActionRequest = workflow.ActionRequest
	// SignoffRequest is the body of POST /api/v1/signoffs.
	SignoffRequest = workflow.SignoffRequest
)

// user is who a session acts as.
func user(ss *casestore.Session) workflow.User {
	return workflow.User{Name: ss.User, Roles: ss.Roles}
}

// statusOf is the HTTP status of each reason the workflow refuses for.
var statusOf = map[workflow.Reason]int{
	workflow.Invalid:   http.StatusBadRequest,
	workflow.Forbidden: http.StatusForbidden,
	workflow.NotFound:  http.StatusNotFound,
	workflow.Conflict:  http.StatusConflict,
}

// badRequest is a request the console could not decode (a filter, a
// query): refused before the workflow sees it.
type badRequest struct{ code, msg string }

func (e *badRequest) Error() string { return e.msg }

// refusal returns the status, code and message an error is answered with
// when it is a refusal (the workflow's, or a request not decoded).
func refusal(err error) (status int, code, msg string, ok bool) {
	var we *workflow.Error
	var br *badRequest
	switch {
	case errors.As(err, &we):
		return statusOf[we.Reason], we.Code, we.Msg, true
	case errors.As(err, &br):
		return http.StatusBadRequest, br.code, br.msg, true
	}
	return 0, "", "", false
}

func undecodable(code, format string, a ...any) error {
	return &badRequest{code, fmt.Sprintf(format, a...)}
}
