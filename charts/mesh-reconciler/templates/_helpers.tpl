{{/* The chart name, or nameOverride. */}}
{{- define "mesh-reconciler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: fullnameOverride, else release-chart (the release name alone when it
already contains the chart name), at most 63 characters. */}}
{{- define "mesh-reconciler.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "mesh-reconciler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries. */}}
{{- define "mesh-reconciler.labels" -}}
helm.sh/chart: {{ include "mesh-reconciler.chart" . }}
{{ include "mesh-reconciler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select meshrc's pods (never change them: a Deployment's selector is
immutable). */}}
{{- define "mesh-reconciler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mesh-reconciler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount meshrc runs as. */}}
{{- define "mesh-reconciler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mesh-reconciler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces meshrc's Roles are in when not cluster-wide. */}}
{{- define "mesh-reconciler.targetNamespaces" -}}
{{- if .Values.rbac.namespaces }}
{{- toYaml (uniq .Values.rbac.namespaces) }}
{{- else }}
{{- toYaml (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* The rules of meshrc's Role or ClusterRole: what it applies, reads and records, nothing
else. Leader election's Lease is in a Role of its own (leader-election-role.yaml). */}}
{{- define "mesh-reconciler.rules" -}}
# Istio's routing resources: read, applied server-side, pruned.
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices", "destinationrules", "gateways", "serviceentries", "workloadentries"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# The inventory of what meshrc applied and the rendered Envoy configuration.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Events on the objects it syncs.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# The workloads behind the services, for rendering Envoy's endpoints.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list"]
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}
