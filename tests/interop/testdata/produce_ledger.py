#!/usr/bin/env python3
"""Produces ledger records to recon's ledger topic the way an upstream team
would: from Python, with a client that is not recon's, Avro in the
Confluent wire format. Records come as JSON lines on stdin
({id, account, currency, amount, booking_date, reference}); for each
delivered record a JSON line {id, partition} goes to stdout.

  --client kafka-python   kafka-python (its default partitioner: murmur2);
                          the value framed by hand with fastavro and the
                          schema id the registry gave
  --client confluent      confluent-kafka (librdkafka) with its
                          AvroSerializer and SchemaRegistryClient;
                          --partitioner sets librdkafka's partitioner
                          (default: librdkafka's own, CRC32-based)
"""
import argparse
import datetime
import decimal
import io
import json
import struct
import sys
import urllib.request


def records(schema_path):
    for line in sys.stdin:
        r = json.loads(line)
        yield {
            "id": r["id"], "side": "LEDGER", "account": r["account"], "currency": r["currency"],
            "amount": decimal.Decimal(r["amount"]),
            "booking_date": datetime.date.fromisoformat(r["booking_date"]), "value_date": None,
            "reference": r["reference"], "bank_reference": "", "counterparty": "", "description": "posted upstream",
            "type_code": "", "provisional": False, "statement_id": "", "source_file": "erp://python",
            "source_digest": "", "source_position": r.get("position", 0),
            "ingested_at": datetime.datetime.now(datetime.timezone.utc), "extra": {},
        }


def register(registry, subject, schema_text):
    body = json.dumps({"schema": schema_text}).encode()
    req = urllib.request.Request(f"{registry}/subjects/{subject}/versions", data=body, method="POST",
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)["id"]


def with_kafka_python(args, schema_text):
    import fastavro
    from kafka import KafkaProducer
    parsed = fastavro.parse_schema(json.loads(schema_text))
    schema_id = register(args.registry, args.topic + "-value", schema_text)
    producer = KafkaProducer(bootstrap_servers=args.brokers.split(","), acks="all")
    futures = []
    for rec in records(args.schema):
        buf = io.BytesIO()
        buf.write(b"\x00" + struct.pack(">I", schema_id))
        fastavro.schemaless_writer(buf, parsed, rec)
        key = f'{rec["account"]}|{rec["currency"]}'.encode()
        futures.append((rec["id"], producer.send(args.topic, key=key, value=buf.getvalue())))
    producer.flush()
    for rid, fut in futures:
        md = fut.get(timeout=30)
        print(json.dumps({"id": rid, "partition": md.partition}))
    producer.close()


def with_confluent(args, schema_text):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    conf = {"bootstrap.servers": args.brokers, "acks": "all"}
    if args.partitioner != "default":
        conf["partitioner"] = args.partitioner
    producer = Producer(conf)
    serializer = AvroSerializer(SchemaRegistryClient({"url": args.registry}), schema_text, lambda obj, ctx: obj)
    out, errors = [], []

    def delivered(err, msg, rid):
        if err is not None:
            errors.append(f"{rid}: {err}")
        else:
            out.append({"id": rid, "partition": msg.partition()})

    for rec in records(args.schema):
        value = serializer(rec, SerializationContext(args.topic, MessageField.VALUE))
        key = f'{rec["account"]}|{rec["currency"]}'.encode()
        producer.produce(args.topic, key=key, value=value, on_delivery=lambda e, m, rid=rec["id"]: delivered(e, m, rid))
        producer.poll(0)
    left = producer.flush(30)
    if errors or left:
        sys.exit(f"delivery failed: {errors[:3]}, {left} not delivered")
    for o in out:
        print(json.dumps(o))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--client", choices=["kafka-python", "confluent"], required=True)
    p.add_argument("--partitioner", default="default")
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--schema", required=True)
    args = p.parse_args()
    with open(args.schema) as f:
        schema_text = f.read()
    (with_kafka_python if args.client == "kafka-python" else with_confluent)(args, schema_text)


if __name__ == "__main__":
    main()
