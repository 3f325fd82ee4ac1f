{{/*
Template subset: the templates use only Go text/template, sprig functions,
and Helm's include, required, fail and toYaml, with .Values, .Release.Name,
.Release.Namespace, .Release.Service and .Chart.Name/Version/AppVersion
(no tpl, lookup, .Files or .Capabilities): internal/packaging renders them
with that subset, since CI has no helm binary.
*/}}

{{- define "identityd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "identityd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "identityd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "identityd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "identityd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "identityd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "identityd.image" -}}
{{- printf "%s:%s" (required "image.repository is required" .Values.image.repository) (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "identityd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "identityd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
identityd.env: the container's environment. Argument: a dict with root (the
top context) and metricsListener (bool: set IDENTITY_METRICS_ADDR).
Variables the chart sets itself may not be repeated in .Values.env, and a
variable may not be both plain and secret.
*/}}
{{- define "identityd.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $managed := list "IDENTITY_ADDR" "IDENTITY_ISSUER" "IDENTITY_METRICS_ADDR" -}}
{{- range $name, $_ := $v.env }}
{{- if has $name $managed }}
{{- fail (printf "env.%s: the chart sets %s itself (issuer, metrics.*)" $name $name) }}
{{- end }}
{{- if hasKey $v.secretEnv $name }}
{{- fail (printf "%s is in both env and secretEnv" $name) }}
{{- end }}
{{- end }}
- name: IDENTITY_ADDR
  value: "0.0.0.0:8000"
- name: IDENTITY_ISSUER
  value: {{ required "issuer is required: the public https URL (IDENTITY_ISSUER)" $v.issuer | quote }}
{{- if .metricsListener }}
- name: IDENTITY_METRICS_ADDR
  value: {{ printf "0.0.0.0:%v" $v.metrics.port | quote }}
{{- end }}
{{- range $name, $value := $v.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $ref := $v.secretEnv }}
{{- if $ref }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret | default $v.existingSecret | required (printf "secretEnv.%s: no secret and no existingSecret" $name) }}
      key: {{ required (printf "secretEnv.%s.key is required" $name) $ref.key }}
      {{- if $ref.optional }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* identityd.podSpecCommon: what every pod of the chart shares. */}}
{{- define "identityd.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "identityd.probes" -}}
livenessProbe:
  httpGet:
    path: /api/health/live
    port: {{ .port }}
  periodSeconds: {{ .root.Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .root.Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .root.Values.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /api/health/ready
    port: {{ .port }}
  periodSeconds: {{ .root.Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .root.Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .root.Values.probes.readiness.failureThreshold }}
{{- end -}}
