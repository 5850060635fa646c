package ingestor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/record"
	"github.com/openrecon/recon/internal/testenv"
)

// TestSQSNotifications: files uploaded to moto's S3 announce themselves
// the way AWS delivers them, one bucket straight to SQS, the other through
// an SNS topic the queue subscribes to. The first ingestor stops between a
// file's Kafka commit and the message's delete (as a crash would); the
// message comes back after its visibility timeout, a second ingestor
// skips its file by digest and deletes it, and ingests the other. Every
// file's records are on Kafka once and the queue ends empty.
func TestSQSNotifications(t *testing.T) {
	brokers := testenv.Kafka(t)
	endpoint := testenv.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s3cfg := S3Config{Endpoint: endpoint, Region: "eu-west-1", PathStyle: true, QuarantinePrefix: "quarantine/"}
	awsCfg, err := awsConfig(ctx, s3cfg, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true })
	sqsc := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	snsc := sns.NewFromConfig(awsCfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) })

	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("recon-files")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	queueARN := qa.Attributes["QueueArn"]
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("recon-s3-events")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: &queueARN}); err != nil {
		t.Fatal(err)
	}
	loc := &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraintEuWest1}
	for b, nc := range map[string]*s3types.NotificationConfiguration{
		"direct-bucket": {QueueConfigurations: []s3types.QueueConfiguration{{QueueArn: &queueARN, Events: []s3types.Event{"s3:ObjectCreated:*"}}}},
		"fanout-bucket": {TopicConfigurations: []s3types.TopicConfiguration{{TopicArn: topic.TopicArn, Events: []s3types.Event{"s3:ObjectCreated:*"}}}},
	} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b), CreateBucketConfiguration: loc}); err != nil {
			t.Fatal(err)
		}
		if _, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(b),
			NotificationConfiguration: nc}); err != nil {
			t.Fatal(err)
		}
	}
	// The notification setup's s3:TestEvent messages must not disturb.

	run := fmt.Sprint(time.Now().UnixNano())
	csv := func(ref string) string {
		return "account,currency,booking_date,value_date,amount,reference,bank_reference,counterparty,description\n" +
			"DE89370400440532013000,EUR,2026-03-02,2026-03-02,-10.00," + ref + ",BR1,ACME,one\n" +
			"DE89370400440532013000,EUR,2026-03-02,2026-03-02,20.00," + ref + "-2,BR2,ACME,two\n"
	}
	direct, fanout := csv("SQS-"+run), csv("SNS-"+run)
	h := newHarness(t, brokers)
	put := func(b, key, body string) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}

	cfg := Defaults()
	cfg.Kafka.Brokers, cfg.Kafka.Partitions, cfg.TransactionalID = brokers, 4, "test-sqs-"+run
	cfg.ConsumeEvents = false
	cfg.S3, cfg.TempDir = s3cfg, t.TempDir()
	cfg.SQS = SQSConfig{QueueURL: *q.QueueUrl, Endpoint: endpoint, Wait: time.Second, Visibility: 3 * time.Second}

	// First ingestor: "crashes" before deleting the direct file's message.
	crash := errors.New("killed between commit and delete")
	var crashed atomic.Bool
	first, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(),
		BeforeSQSDelete: func(string) error { crashed.Store(true); return crash }})
	if err != nil {
		t.Fatal(err)
	}
	put("direct-bucket", "incoming/bank/stmt "+run+".csv", direct)
	if err := first.Run(ctx); !errors.Is(err, crash) {
		t.Fatalf("first ingestor returned %v", err)
	}
	h.waitOutcomes(digestOf(direct))

	// Second ingestor: the message comes back; its file is a duplicate.
	put("fanout-bucket", "bank/other "+run+".csv", fanout)
	reg := prometheus.NewRegistry()
	second, err := New(ctx, cfg, Deps{Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(rctx) }()
	h.waitOutcomes(digestOf(fanout))
	testenv.WaitUntil(t, time.Minute, func() string {
		if n := counterSum(t, reg, "recon_ingest_files_total", "outcome", "duplicate"); n < 1 {
			return "the re-delivered message was not seen again as a duplicate"
		}
		a, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			return err.Error()
		}
		if v, nv := a.Attributes["ApproximateNumberOfMessages"], a.Attributes["ApproximateNumberOfMessagesNotVisible"]; v != "0" || nv != "0" {
			return fmt.Sprintf("queue not empty: %s visible, %s in flight", v, nv)
		}
		return ""
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !crashed.Load() {
		t.Fatal("the first ingestor never reached the delete")
	}

	perRef := map[string]int{}
	for _, r := range h.read()[kafka.TopicBankTransactions] {
		tx, err := h.codec.Decode(ctx, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(tx.Reference, run) || strings.HasSuffix(tx.Reference, run+"-2") {
			perRef[tx.Reference]++
		}
	}
	for _, ref := range []string{"SQS-" + run, "SQS-" + run + "-2", "SNS-" + run, "SNS-" + run + "-2"} {
		if perRef[ref] != 1 {
			t.Errorf("record %s on Kafka %d times", ref, perRef[ref])
		}
	}
	files := map[string]int{}
	for _, r := range h.read()[kafka.TopicFiles] {
		fe, err := h.fcodec.Decode(ctx, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if fe.Outcome == record.OutcomeIngested {
			files[fe.Bucket+"/"+fe.Key]++
		}
	}
	for _, k := range []string{"direct-bucket/incoming/bank/stmt " + run + ".csv", "fanout-bucket/bank/other " + run + ".csv"} {
		if files[k] != 1 {
			t.Errorf("%s ingested %d times (outcomes %v)", k, files[k], files)
		}
	}
}
