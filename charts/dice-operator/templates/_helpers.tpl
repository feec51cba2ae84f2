{{/* Names and labels shared by every template. */}}

{{- define "dice-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dice-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dice-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dice-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dice-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dice-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dice-operator.labels" -}}
{{ include "dice-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "dice-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* `key=value,key2=value2`, the form --default-monitoring-labels reads. */}}
{{- define "dice-operator.labelList" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The watched namespaces, `watchNamespaces` plus the older single `watchNamespace`, as `a,b`;
empty for all namespaces. */}}
{{- define "dice-operator.watchNamespaces" -}}
{{- $namespaces := .Values.watchNamespaces | default list -}}
{{- if .Values.watchNamespace -}}
{{- $namespaces = append $namespaces .Values.watchNamespace -}}
{{- end -}}
{{- join "," ($namespaces | uniq | sortAlpha) -}}
{{- end -}}
