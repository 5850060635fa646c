package ops

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// node finds key in mapping n (nil when absent).
func node(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// list is a scalar or a sequence's items, as nodes.
func list(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		return n.Content
	}
	return []*yaml.Node{n}
}

// TestAWSTemplate checks deploy/aws/recon.yaml as CloudFormation would
// need it and as least privilege asks: every reference names a resource,
// a parameter or a pseudo parameter; every bucket, queue and topic is
// encrypted with the template's KMS key, every bucket versioned, closed
// to the public and TLS-only; no Allow statement outside the key policy
// names "*" as a resource or a whole service as an action; and each
// role's policy allows exactly what its role does.
func TestAWSTemplate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "aws", "recon.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("recon.yaml: %v", err)
	}
	doc := root.Content[0]
	resources := node(doc, "Resources")
	if resources == nil || len(resources.Content) == 0 {
		t.Fatal("no Resources")
	}
	names := map[string]string{} // logical id -> type
	for i := 0; i+1 < len(resources.Content); i += 2 {
		names[resources.Content[i].Value] = node(resources.Content[i+1], "Type").Value
	}
	known := func(ref string) bool {
		ref, _, _ = strings.Cut(ref, ".")
		_, isRes := names[ref]
		return isRes || node(doc, "Parameters", ref) != nil || strings.HasPrefix(ref, "AWS::")
	}
	// Every !Ref, !GetAtt and ${…} of a !Sub names something.
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Tag {
		case "!Ref", "!GetAtt":
			if !known(n.Value) {
				t.Errorf("line %d: %s %s names nothing in the template", n.Line, n.Tag, n.Value)
			}
		case "!Sub":
			for _, part := range strings.Split(n.Value, "${")[1:] {
				ref, _, _ := strings.Cut(part, "}")
				if !known(ref) {
					t.Errorf("line %d: !Sub ${%s} names nothing in the template", n.Line, ref)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)

	tlsOnly := map[string]bool{}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		props := node(r, "Properties")
		switch names[id] {
		case "AWS::S3::Bucket":
			sse := list(node(props, "BucketEncryption", "ServerSideEncryptionConfiguration"))
			if len(sse) != 1 || node(sse[0], "ServerSideEncryptionByDefault", "SSEAlgorithm").Value != "aws:kms" ||
				node(sse[0], "ServerSideEncryptionByDefault", "KMSMasterKeyID").Value != "DataKey.Arn" {
				t.Errorf("bucket %s: not encrypted with the template's KMS key", id)
			}
			if v := node(props, "VersioningConfiguration", "Status"); v == nil || v.Value != "Enabled" {
				t.Errorf("bucket %s: not versioned", id)
			}
			for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
				if v := node(props, "PublicAccessBlockConfiguration", k); v == nil || v.Value != "true" {
					t.Errorf("bucket %s: %s not true", id, k)
				}
			}
		case "AWS::SQS::Queue", "AWS::SNS::Topic":
			if k := node(props, "KmsMasterKeyId"); k == nil || k.Value != "DataKey.Arn" {
				t.Errorf("%s %s: not encrypted with the template's KMS key", names[id], id)
			}
		case "AWS::S3::BucketPolicy":
			for _, st := range list(node(props, "PolicyDocument", "Statement")) {
				if node(st, "Effect").Value == "Deny" && node(st, "Condition", "Bool", "aws:SecureTransport") != nil {
					tlsOnly[node(props, "Bucket").Value] = true
				}
			}
		}
	}
	for id, typ := range names {
		if typ == "AWS::S3::Bucket" && !tlsOnly[id] {
			t.Errorf("bucket %s: no policy denying requests without TLS", id)
		}
	}

	// Allow statements: no "*" resource, no whole-service action, outside
	// the key policy (whose only resource is the key itself).
	allowed := map[string][]string{} // a role's policy -> its actions
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, r := resources.Content[i].Value, resources.Content[i+1]
		props := node(r, "Properties")
		var docs []*yaml.Node
		if names[id] == "AWS::KMS::Key" {
			continue
		}
		for _, k := range []string{"PolicyDocument", "AssumeRolePolicyDocument"} {
			if d := node(props, k); d != nil {
				docs = append(docs, d)
			}
		}
		for _, p := range list(node(props, "Policies")) {
			docs = append(docs, node(p, "PolicyDocument"))
		}
		for _, d := range docs {
			for _, st := range list(node(d, "Statement")) {
				if node(st, "Effect").Value != "Allow" {
					continue
				}
				for _, a := range list(node(st, "Action")) {
					if a.Value == "*" || strings.HasSuffix(a.Value, ":*") {
						t.Errorf("%s line %d: action %s allows a whole service", id, a.Line, a.Value)
					}
					if names[id] == "AWS::IAM::ManagedPolicy" {
						allowed[id] = append(allowed[id], a.Value)
					}
				}
				for _, res := range list(node(st, "Resource")) {
					if res.Tag != "!Ref" && res.Tag != "!GetAtt" && res.Tag != "!Sub" {
						t.Errorf("%s line %d: resource %q is not one of the template's", id, res.Line, res.Value)
					}
				}
			}
		}
	}
	want := map[string][]string{
		"IngestorPolicy": {"kms:Decrypt", "kms:GenerateDataKey", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject",
			"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
		"NotifierPolicy": {"kms:Decrypt", "kms:GenerateDataKey", "sns:Publish"},
		"LoaderPolicy":   {"kms:Decrypt", "kms:GenerateDataKey", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket", "s3:PutObject"},
	}
	for role, acts := range want {
		got := allowed[role]
		sort.Strings(got)
		if !slices.Equal(got, acts) {
			t.Errorf("%s allows %v, want exactly %v", role, got, acts)
		}
	}
	if len(allowed) != len(want) {
		t.Errorf("managed policies %v, want one per role of %v", allowed, want)
	}
}
