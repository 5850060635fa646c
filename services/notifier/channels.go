package notifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/openrecon/recon/internal/awsconn"
	"github.com/openrecon/recon/internal/money"
	"github.com/openrecon/recon/internal/record"
)

// outMessage is what one send carries: one break, or a digest of a
// channel's breaks due together for the same recipients.
type outMessage struct {
	// Key is the idempotency key receivers dedupe on: the break id, or a
	// hash of a digest's break ids.
	Key string
	// Ref names this message among all sent: the delivery id, or a hash of
	// a digest's delivery ids (e-mail Message-ID, SNS deduplication id).
	Ref        string
	Routes     []string
	Recipients []string
	Breaks     []*record.Break
	Digest     bool
}

// sender is a channel's way out. An error wrapping errRefused is
// permanent: retrying cannot change it.
type sender interface {
	send(ctx context.Context, m outMessage) error
}

// newSender builds the channel c describes.
func newSender(ctx context.Context, c *ChannelConfig, httpc *http.Client, consoleURL string, log *slog.Logger) (sender, error) {
	switch c.Type {
	case ChannelWebhook:
		return &webhookSender{url: c.URL, secret: c.secret, http: httpc}, nil
	case ChannelSlack:
		return &slackSender{url: c.URL, http: httpc, console: strings.TrimRight(consoleURL, "/")}, nil
	case ChannelSNS:
		return newSNSSender(ctx, c)
	case ChannelEmail:
		return newEmailSender(c, consoleURL)
	case ChannelLog:
		return logSender{log}, nil
	}
	return nil, fmt.Errorf("channel %q: type %q", c.name, c.Type)
}

// postJSON sends body once; 429, 408, 5xx and network errors are
// transient, other 4xx answers permanent.
func postJSON(ctx context.Context, httpc *http.Client, url, key string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%v: %w", err, errRefused)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "recon-notifier")
	req.Header.Set(HeaderIdempotency, key)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
		return fmt.Errorf("%w: %w", err, errRefused)
	}
	return err
}

// webhookSender posts the Message JSON signed with HMAC-SHA256.
type webhookSender struct {
	url    string
	secret []byte
	http   *http.Client
}

// body is the JSON message of the webhook and SNS channels: a break or a
// digest of breaks.
func (m outMessage) body() (Message, []byte, error) {
	msg := Message{Type: "break", Breaks: m.Breaks}
	if m.Digest {
		msg.Type = "breaks.digest"
	}
	b, err := json.Marshal(msg)
	return msg, b, err
}

func (w *webhookSender) send(ctx context.Context, m outMessage) error {
	_, body, err := m.body()
	if err != nil {
		return err
	}
	return postJSON(ctx, w.http, w.url, m.Key, body, signed(w.secret, body))
}

// signed is the webhook headers signing body now with secret.
func signed(secret, body []byte) http.Header {
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(secret, ts, body))
	return h
}

// slackSender posts a Block Kit message to an incoming webhook.
type slackSender struct {
	url, console string
	http         *http.Client
}

// slackMaxBreaks is how many breaks one Slack message lists (Slack allows
// 50 blocks; each break takes one, plus header, context and the rest).
const slackMaxBreaks = 40

func (s *slackSender) send(ctx context.Context, m outMessage) error {
	body, err := json.Marshal(SlackMessage(m.Breaks, s.console))
	if err != nil {
		return err
	}
	return postJSON(ctx, s.http, s.url, m.Key, body, nil)
}

// SlackMessage is the Block Kit message for breaks: a header, one section
// per break with its essentials and a button to the break in the console
// (when the console's URL is known), and how many more a digest holds.
func SlackMessage(breaks []*record.Break, consoleURL string) map[string]any {
	text := fmt.Sprintf("%d new break(s)", len(breaks))
	if len(breaks) == 1 {
		b := breaks[0]
		text = fmt.Sprintf("Break on %s: %s %s (%s)", b.Account, string(b.Side), money.Format(b.Record.Amount, b.Currency), reasonText(b.Reason))
	}
	blocks := []any{map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(text, 150)}}}
	for i, b := range breaks {
		if i == slackMaxBreaks {
			blocks = append(blocks, map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn",
				"text": fmt.Sprintf("… and %d more; the console lists them all.", len(breaks)-slackMaxBreaks)}}})
			break
		}
		fields := []any{
			mrkdwn("*Account*\n" + slackEscape(b.Account)),
			mrkdwn("*Amount*\n" + money.Format(b.Record.Amount, b.Currency)),
			mrkdwn("*Side*\n" + string(b.Side)),
			mrkdwn("*Reason*\n" + reasonText(b.Reason)),
			mrkdwn("*Booking date*\n" + b.Record.BookingDate.String()),
			mrkdwn("*Reference*\n" + slackEscape(orDash(b.Record.Reference))),
		}
		sec := map[string]any{"type": "section", "fields": fields}
		if consoleURL != "" {
			sec["accessory"] = map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open break"},
				"url": consoleURL + "/breaks/" + b.BreakID, "action_id": "open-" + b.BreakID}
		}
		blocks = append(blocks, sec)
	}
	if len(breaks) == 1 {
		b := breaks[0]
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{mrkdwn(fmt.Sprintf("break `%s` · record `%s` · %s",
			b.BreakID, b.Record.ID, slackEscape(b.Record.SourceFile)))}})
	}
	return map[string]any{"text": text, "blocks": blocks}
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func reasonText(r record.BreakReason) string { return strings.ReplaceAll(string(r), "_", " ") }

// snsSender publishes to an SNS topic with message attributes a
// subscription's filter policy can select on.
type snsSender struct {
	cl    *sns.Client
	topic string
}

func newSNSSender(ctx context.Context, c *ChannelConfig) (*snsSender, error) {
	cfg, err := awsconn.Config(ctx, c.Region, "", "")
	if err != nil {
		return nil, fmt.Errorf("channel %q: %w", c.name, err)
	}
	cl := sns.NewFromConfig(cfg, func(o *sns.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return &snsSender{cl: cl, topic: c.TopicARN}, nil
}

func (s *snsSender) send(ctx context.Context, m outMessage) error {
	msg, body, err := m.body()
	if err != nil {
		return err
	}
	str := func(v string) snstypes.MessageAttributeValue {
		return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	first := m.Breaks[0]
	attrs := map[string]snstypes.MessageAttributeValue{
		"type":  str(msg.Type),
		"route": str(strings.Join(m.Routes, ",")),
	}
	if !m.Digest { // a digest's breaks may differ in these
		attrs["account"], attrs["currency"], attrs["side"], attrs["reason"] = str(first.Account), str(first.Currency), str(string(first.Side)), str(string(first.Reason))
		attrs["amount"] = snstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(first.Record.Amount.String())}
	}
	in := &sns.PublishInput{TopicArn: &s.topic, Message: aws.String(string(body)), MessageAttributes: attrs,
		Subject: aws.String(truncate(subject(m), 100))}
	if strings.HasSuffix(s.topic, ".fifo") { // FIFO topics drop a repeat within five minutes
		in.MessageGroupId = aws.String(first.Account)
		in.MessageDeduplicationId = aws.String(hashKey(m.Ref))
	}
	_, err = s.cl.Publish(ctx, in)
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "AuthorizationError", "InvalidParameter", "InvalidParameterValue", "KMSAccessDenied", "KMSDisabled":
			return fmt.Errorf("%w: %w", err, errRefused)
		}
	}
	return err
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:16])
}

// subject is the one-line summary of a message (email subject, SNS
// subject).
func subject(m outMessage) string {
	if len(m.Breaks) == 1 {
		b := m.Breaks[0]
		return fmt.Sprintf("Break on %s: %s %s, %s", b.Account, string(b.Side), money.Format(b.Record.Amount, b.Currency), reasonText(b.Reason))
	}
	return fmt.Sprintf("%d breaks to look at", len(m.Breaks))
}

// emailSender sends over SMTP, STARTTLS unless told otherwise, a
// multipart/alternative message (plain text and HTML).
type emailSender struct {
	addr, host, from string
	to               []string
	tlsMode          string
	tls              *tls.Config
	auth             smtp.Auth
	console          string
}

func newEmailSender(c *ChannelConfig, consoleURL string) (*emailSender, error) {
	host, _, err := net.SplitHostPort(c.SMTP)
	if err != nil {
		return nil, fmt.Errorf("channel %q: smtp: %w", c.name, err)
	}
	e := &emailSender{addr: c.SMTP, host: host, from: c.From, to: c.To, tlsMode: c.TLS, console: strings.TrimRight(consoleURL, "/"),
		tls: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}
	if e.tlsMode == "" {
		e.tlsMode = "starttls"
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("channel %q: ca_file: %w", c.name, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("channel %q: ca_file %s holds no PEM certificate", c.name, c.CAFile)
		}
		e.tls.RootCAs = pool
	}
	if c.Username != "" {
		e.auth = smtp.PlainAuth("", c.Username, c.pass, host)
	}
	return e, nil
}

func (e *emailSender) send(ctx context.Context, m outMessage) error {
	to := append(append([]string(nil), e.to...), m.Recipients...)
	if len(to) == 0 {
		return fmt.Errorf("no recipient: give the channel 'to' or the route 'recipients': %w", errRefused)
	}
	msg, err := e.compose(m, to)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errRefused)
	}
	d := net.Dialer{Timeout: 15 * time.Second}
	var conn net.Conn
	if e.tlsMode == "implicit" {
		conn, err = tls.DialWithDialer(&d, "tcp", e.addr, e.tls)
	} else {
		conn, err = d.DialContext(ctx, "tcp", e.addr)
	}
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("recon-notifier"); err != nil {
		return err
	}
	if e.tlsMode == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s offers no STARTTLS (set tls: none only for a relay inside a trusted network): %w", e.addr, errRefused)
		}
		if err := c.StartTLS(e.tls); err != nil {
			return err
		}
	}
	if e.auth != nil {
		if err := c.Auth(e.auth); err != nil {
			return smtpErr(err)
		}
	}
	if err := c.Mail(e.from); err != nil {
		return smtpErr(err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return smtpErr(fmt.Errorf("recipient %s: %w", r, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(err)
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return smtpErr(err)
	}
	return c.Quit()
}

// smtpErr marks 5xx replies (permanent in SMTP) as refused.
func smtpErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return fmt.Errorf("%w: %w", err, errRefused)
	}
	return err
}

var emailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p>{{.Intro}}</p>
<table cellpadding="6" style="border-collapse:collapse">
<tr style="text-align:left;border-bottom:1px solid #999"><th>Account</th><th>Side</th><th style="text-align:right">Amount</th><th>Reason</th><th>Booking date</th><th>Reference</th><th></th></tr>
{{range .Rows}}<tr style="border-bottom:1px solid #ddd"><td>{{.Account}}</td><td>{{.Side}}</td><td style="text-align:right">{{.Amount}}</td><td>{{.Reason}}</td><td>{{.Date}}</td><td>{{.Reference}}</td><td>{{if .Link}}<a href="{{.Link}}">open</a>{{end}}</td></tr>
{{end}}</table>
<p style="color:#666;font-size:small">Sent by recon for route(s) {{.Routes}}.</p>
</body></html>
`))

type emailRow struct{ Account, Side, Amount, Reason, Date, Reference, Link string }

// compose writes the RFC 5322 message. Its Message-ID is derived from the
// delivery, so a resend after a crash carries the same id.
func (e *emailSender) compose(m outMessage, to []string) ([]byte, error) {
	rows := make([]emailRow, len(m.Breaks))
	var text strings.Builder
	intro := "A break needs a look."
	if len(m.Breaks) > 1 {
		intro = fmt.Sprintf("%d breaks need a look.", len(m.Breaks))
	}
	fmt.Fprintf(&text, "%s\n\n", intro)
	for i, b := range m.Breaks {
		r := emailRow{b.Account, string(b.Side), money.Format(b.Record.Amount, b.Currency), reasonText(b.Reason), b.Record.BookingDate.String(), b.Record.Reference, ""}
		if e.console != "" {
			r.Link = e.console + "/breaks/" + b.BreakID
		}
		rows[i] = r
		fmt.Fprintf(&text, "- %s %s %s, %s, booked %s, reference %s\n  break %s%s\n", r.Account, r.Side, r.Amount, r.Reason, r.Date, orDash(r.Reference), b.BreakID,
			map[bool]string{true: "\n  " + r.Link, false: ""}[r.Link != ""])
	}
	fmt.Fprintf(&text, "\nSent by recon for route(s) %s.\n", strings.Join(m.Routes, ", "))
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, map[string]any{"Intro": intro, "Rows": rows, "Routes": strings.Join(m.Routes, ", ")}); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	hdr := func(k, v string) { fmt.Fprintf(&out, "%s: %s\r\n", k, v) }
	var buf bytes.Buffer
	hdr("From", e.from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject(m)))
	hdr("Date", time.Now().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hashKey(m.Ref)+"@recon-notifier>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	out.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{{"text/plain; charset=utf-8", text.String()}, {"text/html; charset=utf-8", html.String()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		buf.Reset()
		qp := quotedprintable.NewWriter(&buf)
		_, _ = qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n")))
		_ = qp.Close()
		_, _ = pw.Write(buf.Bytes())
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// logSender writes one line per break.
type logSender struct{ log *slog.Logger }

func (l logSender) send(_ context.Context, m outMessage) error {
	for _, b := range m.Breaks {
		l.log.Info("break", "routes", strings.Join(m.Routes, ","), "break_id", b.BreakID, "side", string(b.Side), "reason", string(b.Reason),
			"currency", b.Currency, "amount", b.Record.Amount.String(), "booking_date", b.Record.BookingDate.String(),
			"reference", b.Record.Reference, "record_id", b.Record.ID)
	}
	return nil
}
