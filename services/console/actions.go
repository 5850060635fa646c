package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/openrecon/recon/internal/casestore"
	"github.com/openrecon/recon/internal/workflow"
)

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
