#!/usr/bin/env bash
# Runs `recon bench` against real Apache Kafka, Redis and PostgreSQL started
# like the tests' (or reused from KAFKA_BROKERS, REDIS_URL, DATABASE_URL).
#   scripts/recon-bench.sh [recon bench flags]   e.g. --pairs 100000 --partitions 12
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/testenv.sh
trap recon_testenv_stop EXIT
recon_testenv_start || exit 1
go run ./services/recon bench --kafka-brokers "$KAFKA_BROKERS" --redis-url "$REDIS_URL" --database-url "$DATABASE_URL" "$@"
