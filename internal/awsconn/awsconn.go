// Package awsconn makes the AWS clients the services share: one way to
// load a configuration (a region, static keys or the default chain) and
// to address S3 or an S3-compatible store.
package awsconn

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Config is the AWS configuration of region (empty: the default chain's)
// with the static keys accessKey and secretKey, or, without them, the
// default chain's credentials (environment, IRSA, instance role).
func Config(ctx context.Context, region, accessKey, secretKey string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if accessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

// S3 is an S3 client of cfg; endpoint (empty: AWS) and pathStyle address
// an S3-compatible store.
func S3(cfg aws.Config, endpoint string, pathStyle bool) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		// S3-compatible stores often send no checksum; the SDK would log
		// that on every read.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}
