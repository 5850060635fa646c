package ingestor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openrecon/recon/internal/awsconn"
	"github.com/openrecon/recon/internal/record"
)

// errPermanent marks a fetch failure that retrying cannot fix (the object
// is gone, access is denied): the file is quarantined with the reason.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// objectStore reads and quarantines objects.
type objectStore interface {
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	Quarantine(ctx context.Context, bucket, key, reason string) (string, error)
}

type s3Store struct {
	cl     *s3.Client
	prefix string
}

var _ objectStore = (*s3Store)(nil)

// awsConfig is the AWS configuration of region with the S3 settings'
// static credentials, or the default chain (env, IRSA, instance role).
func awsConfig(ctx context.Context, c S3Config, region string) (aws.Config, error) {
	return awsconn.Config(ctx, region, c.AccessKey, c.secretKey)
}

func newS3Store(ctx context.Context, c S3Config) (*s3Store, error) {
	cfg, err := awsConfig(ctx, c, c.Region)
	if err != nil {
		return nil, err
	}
	return &s3Store{cl: awsconn.S3(cfg, c.Endpoint, c.PathStyle), prefix: c.QuarantinePrefix}, nil
}

func (s *s3Store) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	out, err := s.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		var nsk *s3types.NoSuchKey
		var nsb *s3types.NoSuchBucket
		var api smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &nsb) ||
			(errors.As(err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "NotFound")) {
			return nil, errPermanent{fmt.Errorf("s3://%s/%s: %w", bucket, key, err)}
		}
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return out.Body, nil
}

// Quarantine copies the object under the quarantine prefix with a reason
// file beside it, and returns where it went.
func (s *s3Store) Quarantine(ctx context.Context, bucket, key, reason string) (string, error) {
	if s.prefix == "" || strings.HasPrefix(key, s.prefix) {
		return "", nil
	}
	dst := s.prefix + key
	src := bucket + "/" + key
	if _, err := s.cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &bucket, Key: &dst, CopySource: aws.String(pathEscape(src))}); err != nil {
		if !errors.As(err, new(*s3types.NoSuchKey)) {
			return "", fmt.Errorf("quarantine copy: %w", err)
		}
	}
	rk := dst + ".reason.txt"
	body := fmt.Sprintf("%s\nquarantined %s\n", reason, time.Now().UTC().Format(time.RFC3339))
	if _, err := s.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &rk, Body: strings.NewReader(body)}); err != nil {
		return "", fmt.Errorf("quarantine reason: %w", err)
	}
	return "s3://" + bucket + "/" + dst, nil
}

func pathEscape(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.PathEscape(p), "+", "%2B")
	}
	return strings.Join(parts, "/")
}

// SideOf reads the side from a key or path: the last folder named bank or
// ledger ("incoming/bank/x.csv" is bank). Empty when there is none.
func SideOf(key string) record.Side {
	dir := path.Dir(strings.ReplaceAll(key, "\\", "/"))
	parts := strings.Split(dir, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		switch strings.ToLower(parts[i]) {
		case "bank":
			return record.Bank
		case "ledger":
			return record.Ledger
		}
	}
	return ""
}
