{{/* Names, labels, configs and env: every template takes them from here. The shapes follow the
operator's builders (operator/gochat_operator/specs), which test_gochat_parity.py checks. */}}

{{- define "gochat.components" -}}api auth ws indexer{{- end -}}

{{/* Each service's port: its config model's default (gochat.contract.services.PORTS). */}}
{{- define "gochat.port" -}}
{{- get (dict "api" 8080 "auth" 8081 "ws" 8082 "indexer" 8083) . -}}
{{- end -}}

{{- define "gochat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gochat.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" -}}
{{- else if contains (include "gochat.name" .) .Release.Name -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "gochat.name" .) | trunc 53 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A child's name: `<fullname>-<suffix>` (takes: dict root, suffix). */}}
{{- define "gochat.childName" -}}
{{- printf "%s-%s" (include "gochat.fullname" .root) .suffix -}}
{{- end -}}

{{- define "gochat.version" -}}
{{- default .Chart.AppVersion .Values.version -}}
{{- end -}}

{{- define "gochat.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default (include "gochat.version" .) .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* The labels a selector uses: immutable, so no version (takes: dict root, component). */}}
{{- define "gochat.selectorLabels" -}}
app.kubernetes.io/name: gochat
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels (takes: dict root, component, and version true on workloads). */}}
{{- define "gochat.labels" -}}
{{ include "gochat.selectorLabels" . }}
app.kubernetes.io/part-of: gochat
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- if .version }}
app.kubernetes.io/version: {{ include "gochat.version" .root | quote }}
{{- end }}
{{- end -}}

{{/* metadata: name, namespace, labels (takes: dict root, name, component, version). */}}
{{- define "gochat.metadata" -}}
name: {{ .name }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "gochat.labels" . | nindent 2 }}
{{- end -}}

{{- define "gochat.jwtSecretName" -}}
{{- default (include "gochat.childName" (dict "root" . "suffix" "jwt")) .Values.auth.jwtSecret.name -}}
{{- end -}}

{{- define "gochat.streamReplicas" -}}
{{- if kindIs "invalid" .Values.nats.streamReplicas -}}
{{- if ge (int .Values.nats.servers) 3 }}3{{ else }}1{{ end -}}
{{- else -}}
{{- .Values.nats.streamReplicas -}}
{{- end -}}
{{- end -}}

{{/* One service's config keys as YAML (takes: dict root, component). Only the keys the chart
sets; the rest keep the service's defaults. Validated by the service's own model in
tests/charts/test_gochat_chart.py. */}}
{{- define "gochat.config" -}}
{{- $v := .root.Values -}}
{{- $c := .component -}}
{{- $config := dict "host" "0.0.0.0" "port" (include "gochat.port" $c | int) "log_level" $v.logLevel -}}
{{- if $v.otlpEndpoint }}{{ $_ := set $config "otlp_endpoint" $v.otlpEndpoint }}{{ end -}}
{{- if has $c (list "api" "ws" "indexer") -}}
{{- $_ := set $config "nats_url" $v.nats.url -}}
{{- $_ := set $config "nats_stream_replicas" (include "gochat.streamReplicas" .root | int) -}}
{{- if $v.nats.credentialsSecret.name }}{{ $_ := set $config "nats_credentials_file" "/etc/gochat/nats/nats.creds" }}{{ end -}}
{{- end -}}
{{- if eq $c "api" -}}
{{- if $v.cassandra.enabled -}}
{{- $_ := set $config "message_store" "cassandra" -}}
{{- $_ := set $config "cassandra_hosts" $v.cassandra.hosts -}}
{{- $_ := set $config "cassandra_keyspace" $v.cassandra.keyspace -}}
{{- $_ := set $config "cassandra_local_dc" $v.cassandra.localDC -}}
{{- else -}}
{{- $_ := set $config "message_store" "postgres" -}}
{{- end -}}
{{- if $v.s3.enabled -}}
{{- $_ := set $config "blob_store" "s3" -}}
{{- $_ := set $config "s3_endpoint" $v.s3.endpoint -}}
{{- if $v.s3.publicEndpoint }}{{ $_ := set $config "s3_public_endpoint" $v.s3.publicEndpoint }}{{ end -}}
{{- $_ := set $config "s3_bucket" $v.s3.bucket -}}
{{- $_ := set $config "s3_region" $v.s3.region -}}
{{- else -}}
{{- $_ := set $config "blob_store" "localfs" -}}
{{- end -}}
{{- end -}}
{{- if has $c (list "api" "indexer") -}}
{{- if $v.opensearch.enabled -}}
{{- $_ := set $config "search_backend" "opensearch" -}}
{{- $_ := set $config "opensearch_url" $v.opensearch.url -}}
{{- else -}}
{{- $_ := set $config "search_backend" "postgres" -}}
{{- end -}}
{{- end -}}
{{- if eq $c "auth" -}}
{{- $_ := set $config "jwt_keys_dir" "/etc/gochat/jwt" -}}
{{- if $v.auth.publicURL }}{{ $_ := set $config "public_url" $v.auth.publicURL }}{{ end -}}
{{- $_ := set $config "mailer" $v.mail.provider -}}
{{- end -}}
{{- if and (eq $c "api") $v.auth.publicURL }}{{ $_ := set $config "public_url" $v.auth.publicURL }}{{ end -}}
{{- if has $c (list "api" "ws") -}}
{{- $auth := include "gochat.childName" (dict "root" .root "suffix" "auth") -}}
{{- $_ := set $config "jwks_url" (printf "http://%s.%s.svc:8081/.well-known/jwks.json" $auth .root.Release.Namespace) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* An env var from a Secret key (takes: dict env, secret, key, optional). */}}
{{- define "gochat.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* The credentials of one component (or "migrate") as env from Secrets, in the operator's
backend order: PostgreSQL, Cassandra, OpenSearch, S3, mail (takes: dict root, component). */}}
{{- define "gochat.secretEnvs" -}}
{{- $v := .root.Values -}}
{{- $c := .component -}}
{{ include "gochat.secretEnv" (dict "env" "GOCHAT_PG_DSN" "secret" $v.postgres.dsnSecret.name "key" $v.postgres.dsnKey) }}
{{- if and $v.cassandra.enabled $v.cassandra.credentialsSecret.name (has $c (list "api" "migrate")) }}
{{- range $key := list "username" "password" }}
{{ include "gochat.secretEnv" (dict "env" (printf "GOCHAT_CASSANDRA_%s" (upper $key)) "secret" $v.cassandra.credentialsSecret.name "key" $key) }}
{{- end }}
{{- end }}
{{- if and $v.opensearch.enabled $v.opensearch.credentialsSecret.name (has $c (list "api" "indexer" "migrate")) }}
{{- range $key := list "username" "password" }}
{{ include "gochat.secretEnv" (dict "env" (printf "GOCHAT_OPENSEARCH_%s" (upper $key)) "secret" $v.opensearch.credentialsSecret.name "key" $key) }}
{{- end }}
{{- end }}
{{- if and $v.s3.enabled (eq $c "api") }}
{{ include "gochat.secretEnv" (dict "env" "GOCHAT_S3_ACCESS_KEY_ID" "secret" $v.s3.credentialsSecret.name "key" "accessKeyId") }}
{{ include "gochat.secretEnv" (dict "env" "GOCHAT_S3_SECRET_ACCESS_KEY" "secret" $v.s3.credentialsSecret.name "key" "secretAccessKey") }}
{{- end }}
{{- if and (eq $c "auth") $v.mail.secret.name }}
{{- range $entry := get (include "gochat.mailSecretKeys" . | fromYaml) $v.mail.provider | default list }}
{{ include "gochat.secretEnv" (dict "env" $entry.env "secret" $v.mail.secret.name "key" $entry.key "optional" $entry.optional) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Secret key -> env per mail provider (outbox needs no Secret). */}}
{{- define "gochat.mailSecretKeys" -}}
smtp:
  - {key: host, env: GOCHAT_SMTP_HOST, optional: false}
  - {key: port, env: GOCHAT_SMTP_PORT, optional: false}
  - {key: username, env: GOCHAT_SMTP_USERNAME, optional: true}
  - {key: password, env: GOCHAT_SMTP_PASSWORD, optional: true}
sendpulse:
  - {key: clientId, env: GOCHAT_SENDPULSE_CLIENT_ID, optional: false}
  - {key: clientSecret, env: GOCHAT_SENDPULSE_CLIENT_SECRET, optional: false}
{{- end -}}

{{/* Every referenced Secret as `- {name, keys, purpose, components}` (keys: the required ones). */}}
{{- define "gochat.secretNeeds" -}}
{{- $v := .Values -}}
- {name: {{ $v.postgres.dsnSecret.name | quote }}, keys: [{{ $v.postgres.dsnKey | quote }}], purpose: PostgreSQL DSN, components: [api, auth, ws, indexer]}
{{- if $v.nats.credentialsSecret.name }}
- {name: {{ $v.nats.credentialsSecret.name | quote }}, keys: [nats.creds], purpose: NATS credentials, components: [api, ws, indexer]}
{{- end }}
{{- if and $v.cassandra.enabled $v.cassandra.credentialsSecret.name }}
- {name: {{ $v.cassandra.credentialsSecret.name | quote }}, keys: [username, password], purpose: Cassandra credentials, components: [api]}
{{- end }}
{{- if and $v.opensearch.enabled $v.opensearch.credentialsSecret.name }}
- {name: {{ $v.opensearch.credentialsSecret.name | quote }}, keys: [username, password], purpose: OpenSearch credentials, components: [api, indexer]}
{{- end }}
{{- if and $v.s3.enabled $v.s3.credentialsSecret.name }}
- {name: {{ $v.s3.credentialsSecret.name | quote }}, keys: [accessKeyId, secretAccessKey], purpose: S3 credentials, components: [api]}
{{- end }}
{{- if and $v.mail.secret.name (ne $v.mail.provider "outbox") }}
- name: {{ $v.mail.secret.name | quote }}
  purpose: {{ $v.mail.provider }} mail settings
  components: [auth]
  keys:
  {{- range $entry := get (include "gochat.mailSecretKeys" . | fromYaml) $v.mail.provider }}
  {{- if not $entry.optional }}
    - {{ $entry.key }}
  {{- end }}
  {{- end }}
{{- end }}
{{- /* The chart's own JWT Secret never changes (and does not exist before the first install,
which would roll auth once on the first upgrade): only a Secret you name is hashed. */}}
{{- with $v.auth.jwtSecret.name }}
- {name: {{ . | quote }}, keys: [], purpose: JWT signing keys, components: [auth]}
{{- end }}
{{- end -}}

{{/* The pod-template hash of one component: its config and the data of the Secrets it reads,
so `helm upgrade` rolls the pods when either changed (takes: dict root, component). At
`helm template` time lookup returns nothing, so only the config counts there. */}}
{{- define "gochat.configHash" -}}
{{- $root := .root -}}
{{- $parts := list (include "gochat.config" .) -}}
{{- range $need := include "gochat.secretNeeds" $root | fromYamlArray -}}
{{- if has $.component $need.components -}}
{{- $secret := lookup "v1" "Secret" $root.Release.Namespace $need.name -}}
{{- $parts = append $parts (printf "%s=%s" $need.name (toJson ($secret.data | default dict))) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $parts | sha256sum | trunc 16 -}}
{{- end -}}

{{/* Combinations the schema cannot express, and referenced Secrets lacking a key: one failure
listing every problem. The Secret checks use lookup, which finds nothing under `helm template`
or `--dry-run=client`, so they apply on install and upgrade only (a Secret that does not exist
yet is not an error: it may be created after the chart). */}}
{{- define "gochat.validate" -}}
{{- $v := .Values -}}
{{- $problems := list -}}
{{- if not $v.postgres.dsnSecret.name -}}
{{- $problems = append $problems "postgres.dsnSecret.name is required: the Secret holding the PostgreSQL DSN" -}}
{{- end -}}
{{- if not $v.nats.url -}}
{{- $problems = append $problems "nats.url is required (nats://host:4222)" -}}
{{- end -}}
{{- if and $v.image.tag $v.image.digest -}}
{{- $problems = append $problems "image.tag and image.digest are both set: set at most one" -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $v.nats.streamReplicas)) (gt (int $v.nats.streamReplicas) (int $v.nats.servers)) -}}
{{- $problems = append $problems (printf "nats.streamReplicas (%v) cannot exceed nats.servers (%v)" $v.nats.streamReplicas $v.nats.servers) -}}
{{- end -}}
{{- if and $v.cassandra.enabled (not $v.cassandra.hosts) -}}
{{- $problems = append $problems "cassandra.enabled is true but cassandra.hosts is empty" -}}
{{- end -}}
{{- if and $v.opensearch.enabled (not $v.opensearch.url) -}}
{{- $problems = append $problems "opensearch.enabled is true but opensearch.url is empty" -}}
{{- end -}}
{{- if $v.s3.enabled -}}
{{- range $key := list "endpoint" "bucket" -}}
{{- if not (get $v.s3 $key) -}}
{{- $problems = append $problems (printf "s3.enabled is true but s3.%s is empty" $key) -}}
{{- end -}}
{{- end -}}
{{- if not $v.s3.credentialsSecret.name -}}
{{- $problems = append $problems "s3.enabled is true but s3.credentialsSecret.name is empty" -}}
{{- end -}}
{{- end -}}
{{- if and (ne $v.mail.provider "outbox") (not $v.mail.secret.name) -}}
{{- $problems = append $problems (printf "mail.secret.name is required for the %s provider" $v.mail.provider) -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.host) -}}
{{- $problems = append $problems "ingress.enabled is true but ingress.host is empty" -}}
{{- end -}}
{{- range $component := splitList " " (include "gochat.components" .) -}}
{{- $scaling := (get $v.components $component).autoscaling -}}
{{- if gt (int $scaling.minReplicas) (int $scaling.maxReplicas) -}}
{{- $problems = append $problems (printf "components.%s.autoscaling.minReplicas (%v) is greater than maxReplicas (%v)" $component $scaling.minReplicas $scaling.maxReplicas) -}}
{{- end -}}
{{- if and $scaling.enabled (not $scaling.targetCpuUtilization) (not $scaling.targetConnectionsPerPod) -}}
{{- $problems = append $problems (printf "components.%s.autoscaling.targetCpuUtilization is 0 or null and no other metric is set: the HPA would have no metric (Kubernetes would scale on 80%% CPU)" $component) -}}
{{- end -}}
{{- end -}}
{{- range $need := include "gochat.secretNeeds" . | fromYamlArray -}}
{{- $secret := lookup "v1" "Secret" $.Release.Namespace $need.name -}}
{{- if $secret -}}
{{- range $key := $need.keys -}}
{{- if not (hasKey ($secret.data | default dict) $key) -}}
{{- $problems = append $problems (printf "Secret %s has no key %q (%s)" $need.name $key $need.purpose) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $v.auth.jwtSecret.name -}}
{{- $keys := lookup "v1" "Secret" $.Release.Namespace . -}}
{{- if and $keys (not (regexMatch "\\.pem\"" (toJson (keys ($keys.data | default dict))))) -}}
{{- $problems = append $problems (printf "Secret %s has no <kid>.pem key (JWT signing keys)" .) -}}
{{- end -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\ninvalid values for gochat:\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
