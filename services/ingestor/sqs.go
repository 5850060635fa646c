package ingestor

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/s3event"
)

// consumeSQS reads S3 event notifications from the SQS queue (as S3 sends
// them, or wrapped by SNS), ingests every object announced, and deletes a
// message only after its files' Kafka transactions committed. A crash in
// between leaves the message to come back after its visibility timeout;
// the file ledger then recognises the files by digest and skips them. A
// message that is not an S3 notification goes to the DLQ and is deleted.
func (s *Service) consumeSQS(ctx context.Context) error {
	c := s.cfg.SQS
	region := c.Region
	if region == "" {
		region = s.cfg.S3.Region
	}
	awsCfg, err := awsConfig(ctx, s.cfg.S3, region)
	if err != nil {
		return err
	}
	cl := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	backoff := time.Second
	for {
		out, err := cl.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &c.QueueURL, MaxNumberOfMessages: 10,
			WaitTimeSeconds: int32(c.Wait / time.Second), VisibilityTimeout: int32(c.Visibility / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.m.retries.WithLabelValues("sqs").Inc()
			s.log.Warn("SQS receive failed, retrying", "queue", c.QueueURL, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		for _, m := range out.Messages {
			if err := s.handleMessage(ctx, cl, m); err != nil {
				return err
			}
		}
	}
}

// handleMessage ingests one message's objects, then deletes it.
func (s *Service) handleMessage(ctx context.Context, cl *sqs.Client, m sqstypes.Message) error {
	q := s.cfg.SQS.QueueURL
	body := aws.ToString(m.Body)
	objs, err := s3event.Decode([]byte(body))
	if err != nil {
		s.log.Warn("bad S3 notification on SQS", "queue", q, "message_id", aws.ToString(m.MessageId), "err", err)
		if err := s.retry(ctx, "dlq", func() error {
			return s.publishDLQ(ctx, []byte(aws.ToString(m.MessageId)), []byte(body), kafka.DLQInfo{Stage: "sqs-event",
				Reason: err.Error(), Path: q}.Headers())
		}); err != nil {
			return err
		}
		return s.deleteMessage(ctx, cl, m)
	}
	// Keep the message hidden while its files are ingested.
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go s.keepInvisible(hctx, cl, m)
	if err := s.ingestObjects(ctx, objs); err != nil {
		return err
	}
	stop()
	if s.beforeDelete != nil && len(objs) > 0 {
		if err := s.beforeDelete(aws.ToString(m.MessageId)); err != nil {
			return err
		}
	}
	return s.deleteMessage(ctx, cl, m)
}

// keepInvisible extends the message's visibility timeout at half its
// length until ctx ends, so a long file is not handed to another consumer
// while it is ingested.
func (s *Service) keepInvisible(ctx context.Context, cl *sqs.Client, m sqstypes.Message) {
	vis := s.cfg.SQS.Visibility
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(vis / 2):
		}
		if _, err := cl.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &s.cfg.SQS.QueueURL,
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(vis / time.Second)}); err != nil && ctx.Err() == nil {
			s.log.Warn("could not extend an SQS message's visibility; another consumer may receive it (its files are then skipped as duplicates)",
				"message_id", aws.ToString(m.MessageId), "err", err)
		}
	}
}

// deleteMessage deletes a handled message, retrying; a delete that never
// succeeds leaves the message to come back, and its files are skipped then.
func (s *Service) deleteMessage(ctx context.Context, cl *sqs.Client, m sqstypes.Message) error {
	err := s.retry(ctx, "sqs-delete", func() error {
		_, err := cl.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &s.cfg.SQS.QueueURL, ReceiptHandle: m.ReceiptHandle})
		var rh *sqstypes.ReceiptHandleIsInvalid
		if errors.As(err, &rh) {
			return errPermanent{err}
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("SQS delete failed; the message will come back and its files be skipped as duplicates",
			"message_id", aws.ToString(m.MessageId), "receives", m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)], "err", err)
		return nil
	}
	if err == nil {
		s.m.sqsMessages.Inc()
	}
	return err
}
