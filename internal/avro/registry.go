package avro

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/schemas"
)

// Embedded is the Registry used when no Schema Registry is configured: the
// ids are the fixed table schemas.EmbeddedIDs, the same in every process.
type Embedded struct{}

var _ Registry = Embedded{}

// Register implements Registry: it finds schema among the embedded ones.
func (Embedded) Register(_ context.Context, subject, schema string) (int, error) {
	for name, id := range schemas.EmbeddedIDs {
		if text, err := schemas.Get(name); err == nil && text == schema {
			return id, nil
		}
	}
	return 0, fmt.Errorf("subject %s: schema is not one of the embedded schemas", subject)
}

// Schema implements Registry.
func (Embedded) Schema(_ context.Context, id int) (string, error) {
	for name, eid := range schemas.EmbeddedIDs {
		if eid == id {
			return schemas.Get(name)
		}
	}
	if _, text, ok := schemas.History(id); ok {
		return text, nil
	}
	return "", fmt.Errorf("schema id %d is not embedded (is a Schema Registry needed?)", id)
}

// HTTPRegistry is a client of the Confluent Schema Registry REST API
// (also served by Redpanda, Apicurio's ccompat API and Karapace).
// Ids and schemas are cached; lookups are retried on 5xx and network errors.
type HTTPRegistry struct {
	base       *url.URL
	client     *http.Client
	user, pass string

	mu      sync.Mutex
	ids     map[string]int // subject + "\x00" + schema -> id
	schemas map[int]string
}

var _ Registry = (*HTTPRegistry)(nil)

// NewHTTPRegistry returns a client for the registry at baseURL. user and
// password enable HTTP basic auth when user is not empty.
func NewHTTPRegistry(baseURL, user, password string, client *http.Client) (*HTTPRegistry, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("schema registry url %q: want http(s)://host[:port]", baseURL)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &HTTPRegistry{base: u, client: client, user: user, pass: password,
		ids: map[string]int{}, schemas: map[int]string{}}, nil
}

type registryError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (r *HTTPRegistry) do(ctx context.Context, method, path string, body any, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, r.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
		if r.user != "" {
			req.SetBasicAuth(r.user, r.pass)
		}
		resp, err := r.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode >= 500 {
			lastErr = fmt.Errorf("%s %s: %s", method, path, resp.Status)
			continue
		}
		if resp.StatusCode >= 300 {
			var re registryError
			_ = json.Unmarshal(data, &re)
			return fmt.Errorf("%s %s: %s: %s (error %d)", method, path, resp.Status, re.Message, re.Code)
		}
		return json.Unmarshal(data, out)
	}
	return lastErr
}

// Register implements Registry (POST /subjects/{subject}/versions).
func (r *HTTPRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	key := subject + "\x00" + schema
	r.mu.Lock()
	id, ok := r.ids[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	var out struct {
		ID int `json:"id"`
	}
	err := r.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions",
		map[string]string{"schema": schema}, &out)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.ids[key] = out.ID
	r.schemas[out.ID] = schema
	r.mu.Unlock()
	return out.ID, nil
}

// Lookup returns the id of schema under subject without registering it
// (POST /subjects/{subject}).
func (r *HTTPRegistry) Lookup(ctx context.Context, subject, schema string) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	if err := r.do(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject),
		map[string]string{"schema": schema}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// Schema implements Registry (GET /schemas/ids/{id}).
func (r *HTTPRegistry) Schema(ctx context.Context, id int) (string, error) {
	r.mu.Lock()
	s, ok := r.schemas[id]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	var out struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := r.do(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil, &out); err != nil {
		return "", err
	}
	if out.SchemaType != "" && out.SchemaType != "AVRO" {
		return "", fmt.Errorf("schema id %d is %s, not AVRO", id, out.SchemaType)
	}
	r.mu.Lock()
	r.schemas[id] = out.Schema
	r.mu.Unlock()
	return out.Schema, nil
}

// RegistryConfig says where the Confluent-compatible Schema Registry is.
// An empty URL means no registry: the embedded schema ids.
type RegistryConfig struct {
	URL, User    string
	PasswordFile string // read by Open
}

// Register declares the Schema Registry settings on l.
func (r *RegistryConfig) Register(l *config.Loader) {
	l.String(&r.URL, "schema-registry-url", r.URL, "Schema Registry URL (empty: embedded schema ids)")
	l.String(&r.User, "schema-registry-user", r.User, "Schema Registry basic-auth user")
	l.String(&r.PasswordFile, "schema-registry-password-file", r.PasswordFile, "file holding the Schema Registry password")
}

// Open returns the HTTP registry at the URL, or Embedded when it is empty;
// it reads the password file.
func (r RegistryConfig) Open() (Registry, error) {
	if r.URL == "" {
		return Embedded{}, nil
	}
	var pass string
	if r.PasswordFile != "" {
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("schema registry password file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	return NewHTTPRegistry(r.URL, r.User, pass, nil)
}
