// Command kafkaready waits until a Kafka broker answers a metadata request
// with at least one broker, or gives up after 90 seconds (exit 1). The test
// scripts use it instead of waiting for an open port.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kafkaready HOST:PORT")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := wait(ctx, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaready:", err)
		os.Exit(1)
	}
}

func wait(ctx context.Context, broker string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		md, err := adm.BrokerMetadata(reqCtx)
		cancel()
		if err == nil && len(md.Brokers) > 0 && md.Controller >= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker %s not ready: %v", broker, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
