{{- define "recon.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "recon.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* recon.selector: the labels that pick one role's pods; call with (list $ role). */}}
{{- define "recon.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "recon.serviceAccount" -}}
{{- .Values.serviceAccount.name | default (include "recon.fullname" .) -}}
{{- end -}}

{{- define "recon.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* recon.kafkaSettings: the Kafka settings every role shares. */}}
{{- define "recon.kafkaSettings" -}}
RECON_KAFKA_BROKERS: {{ .Values.kafka.brokers | quote }}
RECON_KAFKA_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
RECON_KAFKA_PARTITIONS: {{ .Values.kafka.partitions | quote }}
RECON_KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
RECON_KAFKA_TLS: {{ .Values.kafka.tls | quote }}
{{- if .Values.kafka.caSecret }}
RECON_KAFKA_TLS_CA_FILE: /secrets/kafka-ca/ca.crt
{{- end }}
{{- if .Values.kafka.saslMechanism }}
RECON_KAFKA_SASL_MECHANISM: {{ .Values.kafka.saslMechanism | quote }}
RECON_KAFKA_SASL_USER: {{ .Values.kafka.saslUser | quote }}
RECON_KAFKA_SASL_PASSWORD_FILE: /secrets/kafka/password
{{- end }}
RECON_SCHEMA_REGISTRY_URL: {{ .Values.schemaRegistry.url | quote }}
RECON_OPS_ADDR: ":{{ .Values.opsPort }}"
RECON_LOG_FORMAT: json
{{- end -}}

{{/* recon.roleSettings: the settings of one role beside Kafka's; call with (list $ role). */}}
{{- define "recon.roleSettings" -}}
{{- $ := index . 0 -}}{{- $role := index . 1 -}}
{{- if eq $role "ingestor" }}
RECON_TEMP_DIR: /tmp
RECON_S3_ENDPOINT: {{ $.Values.s3.endpoint | quote }}
RECON_S3_REGION: {{ $.Values.s3.region | quote }}
RECON_S3_PATH_STYLE: {{ $.Values.s3.pathStyle | quote }}
RECON_S3_QUARANTINE_PREFIX: {{ $.Values.s3.quarantinePrefix | quote }}
{{- if $.Values.s3.accessKey }}
RECON_S3_ACCESS_KEY: {{ $.Values.s3.accessKey | quote }}
RECON_S3_SECRET_KEY_FILE: /secrets/s3/secret-key
{{- end }}
{{- if $.Values.sqs.queueURL }}
RECON_SQS_QUEUE_URL: {{ $.Values.sqs.queueURL | quote }}
RECON_SQS_REGION: {{ $.Values.sqs.region | quote }}
RECON_CONSUME_EVENTS: "false"
{{- end }}
{{- else if eq $role "notifier" }}
{{- if $.Values.notifier.routes }}
RECON_ROUTES_FILE: /etc/recon/routes.yaml
{{- else if $.Values.notifier.webhook.url }}
RECON_WEBHOOK_URL: {{ $.Values.notifier.webhook.url | quote }}
RECON_WEBHOOK_SECRET_FILE: /secrets/webhook/secret
{{- end }}
{{- if $.Values.console.publicURL }}
RECON_CONSOLE_URL: {{ $.Values.console.publicURL | quote }}
{{- end }}
{{- else if eq $role "console" }}
RECON_CONSOLE_ADDR: ":{{ $.Values.console.port }}"
RECON_PUBLIC_URL: {{ $.Values.console.publicURL | quote }}
RECON_OIDC_ISSUER: {{ $.Values.console.oidc.issuer | quote }}
RECON_OIDC_CLIENT_ID: {{ $.Values.console.oidc.clientID | quote }}
RECON_OIDC_GROUPS_CLAIM: {{ $.Values.console.oidc.groupsClaim | quote }}
{{- if $.Values.console.oidc.roleMap }}
RECON_OIDC_ROLE_MAP: {{ $.Values.console.oidc.roleMap | quote }}
{{- end }}
{{- if $.Values.console.oidc.clientSecretSecret }}
RECON_OIDC_CLIENT_SECRET_FILE: /secrets/oidc/client-secret
{{- end }}
{{- end }}
{{- end -}}

{{/* recon.ports: the TCP ports one role connects to besides Kafka and DNS; call with (list $ role). */}}
{{- define "recon.egressPorts" -}}
{{- $ := index . 0 -}}{{- $role := index . 1 -}}
{{- $ports := list -}}
{{- if has $role (list "matcher" "notifier") }}{{ $ports = append $ports $.Values.redis.port }}{{ end -}}
{{- if has $role (list "loader" "console") }}{{ $ports = append $ports $.Values.warehouse.port }}{{ end -}}
{{- if has $role (list "ingestor" "console") }}{{ $ports = append $ports 443 }}{{ end -}}
{{- if and (eq $role "loader") (hasKey $.Values.roles.loader.settings "RECON_REDSHIFT_STAGING") }}{{ $ports = append $ports 443 }}{{ end -}}
{{- if eq $role "notifier" }}{{ $ports = concat $ports $.Values.notifier.egressPorts }}{{ end -}}
{{- if $.Values.schemaRegistry.url }}{{ $ports = append $ports $.Values.schemaRegistry.port }}{{ end -}}
{{- toJson ($ports | uniq) -}}
{{- end -}}
