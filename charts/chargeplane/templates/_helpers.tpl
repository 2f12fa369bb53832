{{/*
The chart's name, truncated to 63 characters: some Kubernetes name fields are limited
to that (the DNS label length).
*/}}
{{- define "chargeplane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's fully qualified name. A release name that already holds the chart name is
used alone, so `helm install chargeplane` gives `chargeplane-postgresql`, the names the
operator's settings default to.
*/}}
{{- define "chargeplane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A component's resource name: the full name with a suffix, still at most 63 characters.
Usage: include "chargeplane.componentName" (list . "postgresql")
*/}}
{{- define "chargeplane.componentName" -}}
{{- $suffix := index . 1 }}
{{- $base := include "chargeplane.fullname" (index . 0) | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "chargeplane.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The labels every object of the release carries. Usage: include "chargeplane.labels" (list . "operator")
*/}}
{{- define "chargeplane.labels" -}}
helm.sh/chart: {{ include "chargeplane.chart" (index . 0) }}
{{ include "chargeplane.selectorLabels" . }}
{{- with (index . 0).Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/part-of: chargeplane
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
{{- end }}

{{/*
The smaller set that selects a component's pods. Selectors are immutable once created,
so these never include anything that changes between upgrades (no version, no chart).
*/}}
{{- define "chargeplane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chargeplane.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
The operator's ServiceAccount name.
*/}}
{{- define "chargeplane.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "chargeplane.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The platform image: the services, the operator, the emulator and the migrations are one image.
*/}}
{{- define "chargeplane.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Where the release's own services answer, by cluster DNS name: the platform runs in other
namespaces too, so short names would not resolve there.
Usage: include "chargeplane.serviceHost" (list . "redis")
*/}}
{{- define "chargeplane.serviceHost" -}}
{{- printf "%s.%s.svc" (include "chargeplane.componentName" .) (index . 0).Release.Namespace }}
{{- end }}

{{/*
The Secret the chart renders for the database: the generated (or given) PostgreSQL password and
the URL built from it, or an external database's URL. None when the values name an existing one.
*/}}
{{- define "chargeplane.databaseSecretName" -}}
{{- include "chargeplane.componentName" (list . "database") }}
{{- end }}

{{/*
The Secret and key that hold the chart's PostgreSQL password: postgresql.auth.existingSecret, or
the chart's own.
*/}}
{{- define "chargeplane.postgresqlPasswordRef" -}}
{{- with .Values.postgresql.auth -}}
name: {{ .existingSecret | default (include "chargeplane.databaseSecretName" $) }}
key: {{ ternary .existingSecretPasswordKey "password" (ne .existingSecret "") }}
{{- end }}
{{- end }}

{{/*
The environment entries that give a container the database URL as the variable named, always
from a Secret. With postgresql.auth.existingSecret the chart cannot know the password, so the
kubelet composes the URL from it ($(POSTGRES_PASSWORD), Kubernetes' dependent variables): the
password must then be URL-safe (letters, digits, - . _ ~).
Usage: include "chargeplane.databaseUrlEnv" (list . "DATABASE_URL")
*/}}
{{- define "chargeplane.databaseUrlEnv" -}}
{{- $root := index . 0 }}
{{- $values := $root.Values }}
{{- if and $values.postgresql.enabled $values.postgresql.auth.existingSecret -}}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- include "chargeplane.postgresqlPasswordRef" $root | nindent 6 }}
- name: {{ index . 1 }}
  value: {{ include "chargeplane.postgresqlUrl" (list $root "$(POSTGRES_PASSWORD)") | quote }}
{{- else -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      {{- if and (not $values.postgresql.enabled) $values.externalDatabase.existingSecret }}
      name: {{ $values.externalDatabase.existingSecret }}
      key: {{ $values.externalDatabase.existingSecretUrlKey }}
      {{- else }}
      name: {{ include "chargeplane.databaseSecretName" $root }}
      key: url
      {{- end }}
{{- end }}
{{- end }}

{{/*
The chart's PostgreSQL as a libpq URL, with the password given (already URL-escaped).
Usage: include "chargeplane.postgresqlUrl" (list . $password)
*/}}
{{- define "chargeplane.postgresqlUrl" -}}
{{- $root := index . 0 }}
{{- $password := index . 1 }}
{{- $auth := $root.Values.postgresql.auth }}
{{- $host := include "chargeplane.serviceHost" (list $root "postgresql") }}
{{- printf "postgresql://%s:%s@%s:5432/%s" $auth.username $password $host $auth.database }}
{{- end }}

{{/*
The Secret the chart renders for an external Redis's URL (which may hold its password).
*/}}
{{- define "chargeplane.redisSecretName" -}}
{{- include "chargeplane.componentName" (list . "redis") }}
{{- end }}

{{/*
The environment entry that gives the operator the Redis URL: the chart's own Redis (which has no
password) by value; an external one's always from a Secret.
*/}}
{{- define "chargeplane.redisUrlEnv" -}}
- name: CHARGEPLANE_REDIS_URL
{{- if .Values.redis.enabled }}
  value: {{ printf "redis://%s:6379/0" (include "chargeplane.serviceHost" (list . "redis")) | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      {{- if .Values.externalRedis.existingSecret }}
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretUrlKey }}
      {{- else }}
      name: {{ include "chargeplane.redisSecretName" . }}
      key: url
      {{- end }}
{{- end }}
{{- end }}

{{/*
A NetworkPolicy peer: the platform's services' pods, in any namespace (the labels the operator
gives them: operator/constants.py).
*/}}
{{- define "chargeplane.platformPeer" -}}
- namespaceSelector: {}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: chargeplane
      app.kubernetes.io/managed-by: chargeplane-operator
    matchExpressions:
      - key: chargeplane.io/service
        operator: Exists
{{- end }}

{{/*
The OTLP/HTTP endpoint the platform exports traces to; empty turns export off.
*/}}
{{- define "chargeplane.otlpEndpoint" -}}
{{- if .Values.jaeger.enabled }}
{{- printf "http://%s:4318" (include "chargeplane.serviceHost" (list . "jaeger")) }}
{{- else }}
{{- .Values.externalTracing.otlpEndpoint }}
{{- end }}
{{- end }}

{{/*
The security context of every container the chart runs: no privilege, nothing written
outside its volumes.
*/}}
{{- define "chargeplane.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}
