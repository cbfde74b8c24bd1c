{{/* Names and labels: every template takes them from here. */}}

{{- define "gochat-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gochat-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gochat-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gochat-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gochat-operator.labels" -}}
{{ include "gochat-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gochat
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "gochat-operator.serviceAccountName" -}}
{{- default (include "gochat-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "gochat-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Combinations the schema cannot express: one failure listing every problem. */}}
{{- define "gochat-operator.validate" -}}
{{- $problems := list -}}
{{- if and .Values.watch.allNamespaces .Values.watch.namespaces -}}
{{- $problems = append $problems "watch.namespaces is set but watch.allNamespaces is true: set allNamespaces to false to watch only those namespaces" -}}
{{- end -}}
{{- if and (not .Values.watch.allNamespaces) (not .Values.watch.namespaces) -}}
{{- $problems = append $problems "watch.allNamespaces is false but watch.namespaces is empty: name at least one namespace" -}}
{{- end -}}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- $problems = append $problems "serviceAccount.create is false but serviceAccount.name is empty: name the existing ServiceAccount" -}}
{{- end -}}
{{- if and .Values.monitoring.serviceMonitor (not .Values.metrics.service) -}}
{{- $problems = append $problems "monitoring.serviceMonitor is true but metrics.service is false: the ServiceMonitor scrapes that Service (turn serviceMonitor off, or the Service on)" -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) -}}
{{- $problems = append $problems (printf "metrics.port and health.port are both %v: the two servers need their own ports" .Values.metrics.port) -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\ninvalid values for gochat-operator:\n  - %s" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
