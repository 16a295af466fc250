#!/usr/bin/env python3
"""Validates the Kubernetes manifests in deploy/kubernetes offline (scripts/validate-k8s.sh).

What it checks, one error a line, exit 1 on any:
  1. Every document of every *.yaml: the Kubernetes kinds against the schemas of one pinned
     Kubernetes version (kubernetes-validate, strict: unknown fields are errors). KEDA's
     ScaledObject and TriggerAuthentication (CRDs the package does not ship) and the
     Kustomization against the small JSON schemas below, which cover only the fields these
     manifests use (unknown fields are errors there too). Any other kind is an error.
  2. That the parts agree with each other and with pemx.toml (the ConfigMap's): the KEDA trigger
     names dist_ingest's group and topic; maxReplicaCount <= the input's partitions, as
     annotated and as docs/deploying.md creates the topic; the grace period exceeds
     drain_timeout + 3 s + the preStop sleep; the probes hit /healthz and /readyz on the port
     the role's http_front stage listens on; the hardened securityContext; every ConfigMap and
     Secret key a pod or KEDA refers to exists; selectors match the pods.
  3. With --pemx BINARY: `pemx check-config` on the ConfigMap's pemx.toml once per workload,
     in a scratch directory laid out as the pod's mounts (ConfigMap and Secret items written
     there, paths under the mounts rewritten to it), with the container's args ($(VAR)
     expanded from its env as Kubernetes does) and environment.
Not checked: anything that needs a cluster (admission, KEDA's own validation webhook, image
pulls, that the brokers answer), and KEDA trigger metadata beyond the keys listed below.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import jsonschema
import kubernetes_validate
import yaml

KEDA_SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"$ref": "#/$defs/metadata"},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                   "name": {"type": "string", "minLength": 1}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                # autoscaling/v2 HorizontalPodAutoscalerBehavior: checked
                                # against the Kubernetes schema separately (below).
                                "behavior": {"type": "object"},
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {"name": {"type": "string"},
                                               "kind": {"enum": ["TriggerAuthentication",
                                                                 "ClusterTriggerAuthentication"]}},
                            },
                            # KEDA reads every metadata value as a string.
                            "metadata": {"type": "object",
                                         "additionalProperties": {"type": "string"}},
                        },
                        "if": {"properties": {"type": {"const": "kafka"}}},
                        "then": {"properties": {"metadata": {"$ref": "#/$defs/kafkaMetadata"}}},
                    },
                },
            },
        },
    },
    "$defs": {
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                           "labels": {"type": "object",
                                      "additionalProperties": {"type": "string"}},
                           "annotations": {"type": "object",
                                           "additionalProperties": {"type": "string"}}},
            "additionalProperties": False,
        },
        # The kafka scaler's metadata keys (KEDA 2.x, keda.sh/docs, "Apache Kafka"), those used
        # here and their neighbours; a typo is an error.
        "kafkaMetadata": {
            "type": "object",
            "required": ["consumerGroup", "topic", "lagThreshold"],
            "oneOf": [{"required": ["bootstrapServers"]},
                      {"required": ["bootstrapServersFromEnv"]}],
            "additionalProperties": False,
            "properties": {
                "bootstrapServers": {"type": "string"},
                "bootstrapServersFromEnv": {"type": "string"},
                "consumerGroup": {"type": "string"},
                "consumerGroupFromEnv": {"type": "string"},
                "topic": {"type": "string"},
                "topicFromEnv": {"type": "string"},
                "lagThreshold": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                "activationLagThreshold": {"type": "string", "pattern": "^[0-9]+$"},
                "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                "allowIdleConsumers": {"enum": ["true", "false"]},
                "scaleToZeroOnInvalidOffset": {"enum": ["true", "false"]},
                "excludePersistentLag": {"enum": ["true", "false"]},
                "limitToPartitionsWithLag": {"enum": ["true", "false"]},
                "version": {"type": "string"},
            },
        },
    },
}

KEDA_TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": KEDA_SCALED_OBJECT["$defs"]["metadata"],
        "spec": {
            "type": "object",
            "required": ["secretTargetRef"],
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        # The kafka scaler's authentication parameters.
                        "properties": {"parameter": {"enum": ["sasl", "username", "password",
                                                              "tls", "ca", "cert", "key",
                                                              "keyPassword"]},
                                       "name": {"type": "string"},
                                       "key": {"type": "string"}},
                    },
                },
            },
        },
    },
}

KUSTOMIZATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "resources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kustomize.config.k8s.io/v1beta1"},
        "kind": {"const": "Kustomization"},
        "namespace": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "images": {"type": "array", "items": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "newName": {"type": "string"},
                           "newTag": {"type": "string"}, "digest": {"type": "string"}}}},
    },
}

CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"): KEDA_SCALED_OBJECT,
          ("keda.sh/v1alpha1", "TriggerAuthentication"): KEDA_TRIGGER_AUTHENTICATION,
          ("kustomize.config.k8s.io/v1beta1", "Kustomization"): KUSTOMIZATION}


class Checker:
    def __init__(self, directory, k8s_version, repo):
        self.dir = directory
        self.k8s_version = k8s_version
        self.repo = repo
        self.errors = []
        self.docs = []  # (file, document)

    def error(self, where, what):
        self.errors.append(f"{where}: {what}")

    # ---- 1. schemas
    def load(self):
        files = sorted(f for f in os.listdir(self.dir) if f.endswith((".yaml", ".yml")))
        if not files:
            self.error(self.dir, "no manifests")
        for name in files:
            path = os.path.join(self.dir, name)
            try:
                with open(path, encoding="utf-8") as f:
                    for doc in yaml.safe_load_all(f):
                        if doc is not None:
                            self.docs.append((name, doc))
            except yaml.YAMLError as e:
                self.error(path, f"not YAML: {e}")

    def validate_schemas(self):
        for name, doc in self.docs:
            where = f"{name}: {doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                self.error(name, "a document without apiVersion and kind")
                continue
            custom = CUSTOM.get((doc["apiVersion"], doc["kind"]))
            if custom is not None:
                validator = jsonschema.Draft202012Validator(custom)
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                    path = ".".join(str(p) for p in e.path) or "(document)"
                    self.error(where, f"{path}: {e.message}")
                continue
            try:
                kubernetes_validate.validate(doc, self.k8s_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(document)"
                self.error(where, f"{path}: {e.message} (Kubernetes {self.k8s_version})")
            except kubernetes_validate.SchemaNotFoundError as e:
                self.error(where, f"{e.message}: an unknown kind (add a schema to "
                                  "scripts/validate_k8s.py if it is a CRD)")

    # ---- helpers
    def find(self, kind, name=None):
        return [d for _, d in self.docs
                if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]

    def one(self, kind, name, where):
        found = self.find(kind, name)
        if len(found) != 1:
            self.error(where, f"expected one {kind} {name}, found {len(found)}")
            return None
        return found[0]

    def workloads(self):
        return [d for _, d in self.docs if d.get("kind") in ("Deployment", "StatefulSet")]

    @staticmethod
    def role_of(container):
        for a in container.get("args", []):
            if a.startswith("--role="):
                return a.split("=", 1)[1]
        return None

    @staticmethod
    def duration_seconds(text):
        m = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
        if not m:
            return None
        return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]

    # ---- 2. consistency
    def check_consistency(self):
        cm = self.one("ConfigMap", "pemx-config", "configmap")
        secret = self.one("Secret", "pemx-secrets", "secret")
        if cm is None or secret is None:
            return None
        cm_data = cm.get("data", {})
        secret_data = dict(secret.get("stringData", {}))
        secret_data.update({k: "(base64)" for k in secret.get("data", {})})
        try:
            toml = tomllib.loads(cm_data.get("pemx.toml", ""))
        except tomllib.TOMLDecodeError as e:
            self.error("ConfigMap pemx-config", f"pemx.toml is not TOML: {e}")
            return None
        stages = toml.get("stages", {})
        drain = self.duration_seconds(toml.get("shutdown", {}).get("drain_timeout", "30s"))

        for w in self.workloads():
            where = f"{w['kind']} {w['metadata']['name']}"
            pod = w["spec"]["template"]["spec"]
            labels = w["spec"]["template"]["metadata"].get("labels", {})
            sel = w["spec"]["selector"].get("matchLabels", {})
            if any(labels.get(k) != v for k, v in sel.items()):
                self.error(where, "spec.selector does not match the pod template's labels")
            psc = pod.get("securityContext", {})
            if psc.get("runAsNonRoot") is not True:
                self.error(where, "pod securityContext.runAsNonRoot must be true")
            if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                self.error(where, "pod securityContext.seccompProfile must be RuntimeDefault")
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for t in w["spec"].get("volumeClaimTemplates", []):
                volumes[t["metadata"]["name"]] = {"name": t["metadata"]["name"], "pvc": True}
            for c in pod.get("containers", []):
                cwhere = f"{where} container {c['name']}"
                sc = c.get("securityContext", {})
                for key, want in (("allowPrivilegeEscalation", False),
                                  ("readOnlyRootFilesystem", True), ("runAsNonRoot", True)):
                    if sc.get(key) is not want:
                        self.error(cwhere, f"securityContext.{key} must be {str(want).lower()}")
                if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                    self.error(cwhere, "securityContext.capabilities.drop must be [ALL]")
                for r in ("requests", "limits"):
                    for res in ("cpu", "memory"):
                        if res not in c.get("resources", {}).get(r, {}):
                            self.error(cwhere, f"resources.{r}.{res} is not set")
                # grace period
                sleep = 0
                pre = c.get("lifecycle", {}).get("preStop", {})
                cmd = pre.get("exec", {}).get("command", [])
                if len(cmd) == 2 and cmd[0] == "sleep":
                    sleep = int(cmd[1])
                elif "sleep" in pre:
                    sleep = pre["sleep"]["seconds"]
                grace = pod.get("terminationGracePeriodSeconds", 30)
                if drain is not None and grace <= drain + 3 + sleep:
                    self.error(where, f"terminationGracePeriodSeconds {grace} must exceed "
                                      f"shutdown.drain_timeout ({drain:g} s) + 3 s + the preStop "
                                      f"sleep ({sleep} s), or Kubernetes kills pemx mid-drain")
                # probes against the role's http stage
                role = self.role_of(c)
                if role not in toml.get("roles", {}):
                    self.error(cwhere, f"--role={role} is not a role of pemx.toml")
                    continue
                ports = []
                for s in toml["roles"][role]:
                    st = stages.get(s, {})
                    if st.get("type") == "http_front":
                        ports.append(int(str(st.get("listen", "")).rsplit(":", 1)[-1]))
                        if not str(st.get("listen", "")).startswith("0.0.0.0:"):
                            self.error(cwhere, f"stages.{s}.listen must be 0.0.0.0:PORT: the "
                                               "kubelet probes the pod's address")
                named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                                    ("startupProbe", "/healthz")):
                    get = c.get(probe, {}).get("httpGet")
                    if get is None:
                        self.error(cwhere, f"{probe} must be an httpGet of {path}")
                        continue
                    port = named.get(get["port"], get["port"])
                    if get.get("path") != path or port not in ports:
                        self.error(cwhere, f"{probe} gets {get.get('path')} on port {port}; "
                                           f"role {role} serves {path} on {ports}")
                # references
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {})
                    if "configMapKeyRef" in ref:
                        r = ref["configMapKeyRef"]
                        if r["name"] != "pemx-config" or r["key"] not in cm_data:
                            self.error(cwhere, f"env {e['name']}: no key {r['key']} in {r['name']}")
                    if "secretKeyRef" in ref:
                        r = ref["secretKeyRef"]
                        if r["name"] != "pemx-secrets" or r["key"] not in secret_data:
                            self.error(cwhere, f"env {e['name']}: no key {r['key']} in {r['name']}")
                for m in c.get("volumeMounts", []):
                    if m["name"] not in volumes:
                        self.error(cwhere, f"volumeMount {m['name']}: no such volume")
            for v in volumes.values():
                src, data = ((v["configMap"], cm_data) if "configMap" in v else
                             (v["secret"], secret_data) if "secret" in v else (None, None))
                if src is None:
                    continue
                for item in src.get("items", []):
                    if item["key"] not in data:
                        self.error(where, f"volume {v['name']}: no key {item['key']}")
                # Files not readable by others are readable by pemx only through its group.
                mode = src.get("defaultMode", 0o644)
                if not mode & 0o004 and psc.get("fsGroup") != psc.get("runAsGroup"):
                    self.error(where, f"volume {v['name']}: defaultMode {mode:o} needs the "
                                      "pod's fsGroup equal to runAsGroup, or pemx cannot read it")

        self.check_keda(toml, secret_data)
        self.check_web_service()
        self.check_kustomization()
        return toml, cm_data, secret_data

    def check_keda(self, toml, secret_data):
        sos = self.find("ScaledObject")
        if not sos:
            self.error("ScaledObject", "none: the dist role must be scaled by KEDA")
        for so in sos:
            where = f"ScaledObject {so['metadata']['name']}"
            spec = so["spec"]
            target = self.one(spec["scaleTargetRef"].get("kind", "Deployment"),
                              spec["scaleTargetRef"]["name"], where)
            if target is None:
                continue
            if "replicas" in target["spec"]:
                self.error(where, "its target sets spec.replicas: every kubectl apply would "
                                  "fight the autoscaler; leave it out")
            container = target["spec"]["template"]["spec"]["containers"][0]
            role = self.role_of(container)
            ingest = [toml["stages"][s] for s in toml.get("roles", {}).get(role, [])
                      if toml["stages"].get(s, {}).get("type") == "kafka_ingest"]
            if len(ingest) != 1:
                self.error(where, f"role {role} of its target has {len(ingest)} kafka_ingest stages")
                continue
            ingest = ingest[0]
            behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig",
                                                    {}).get("behavior")
            if behavior is not None:
                hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                       "metadata": {"name": "behavior-check"},
                       "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"},
                                "maxReplicas": 1, "behavior": behavior}}
                try:
                    kubernetes_validate.validate(hpa, self.k8s_version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    self.error(where, f"advanced.horizontalPodAutoscalerConfig.behavior: "
                                      f"{e.message}")
            env_names = {e["name"] for e in container.get("env", [])}
            for t in spec["triggers"]:
                if t["type"] != "kafka":
                    continue
                md = t["metadata"]
                if md.get("consumerGroup") != ingest.get("group_id"):
                    self.error(where, f"consumerGroup {md.get('consumerGroup')} is not "
                                      f"pemx.toml's group_id {ingest.get('group_id')}")
                if [md.get("topic")] != ingest.get("topics"):
                    self.error(where, f"topic {md.get('topic')} is not pemx.toml's topics "
                                      f"{ingest.get('topics')}")
                if md.get("offsetResetPolicy", "latest") != ingest.get("auto_offset_reset",
                                                                        "earliest"):
                    self.error(where, "offsetResetPolicy differs from auto_offset_reset")
                if md.get("allowIdleConsumers", "false") != "false":
                    self.error(where, "allowIdleConsumers must be false: more consumers than "
                                      "partitions sit idle")
                if "bootstrapServersFromEnv" in md and md["bootstrapServersFromEnv"] not in env_names:
                    self.error(where, f"bootstrapServersFromEnv {md['bootstrapServersFromEnv']} "
                                      "is not an env variable of the target's container")
                auth = t.get("authenticationRef", {}).get("name")
                if auth is not None:
                    ta = self.one("TriggerAuthentication", auth, where)
                    for ref in (ta or {}).get("spec", {}).get("secretTargetRef", []):
                        if ref["name"] != "pemx-secrets" or ref["key"] not in secret_data:
                            self.error(f"TriggerAuthentication {auth}",
                                       f"no key {ref['key']} in {ref['name']}")
            partitions = so["metadata"].get("annotations", {}).get(
                "pemx.example/input-partitions")
            if partitions is None:
                self.error(where, "annotation pemx.example/input-partitions is missing")
                continue
            if spec.get("maxReplicaCount", 100) > int(partitions):
                self.error(where, f"maxReplicaCount {spec.get('maxReplicaCount', 100)} exceeds "
                                  f"the {partitions} partitions of the input topic")
            doc = os.path.join(self.repo, "docs", "deploying.md")
            text = open(doc, encoding="utf-8").read()
            topic = ingest["topics"][0]
            m = re.search(r"--create --topic " + re.escape(topic) + r" \\\s*\n\s*--partitions (\d+)",
                          text)
            if m is None:
                self.error(where, f"docs/deploying.md does not create {topic} with --partitions")
            elif m.group(1) != partitions:
                self.error(where, f"annotation says {partitions} partitions, docs/deploying.md "
                                  f"creates {topic} with {m.group(1)}: change both together")

    def check_web_service(self):
        for svc in self.find("Service"):
            sel = svc["spec"].get("selector", {})
            pods = [w for w in self.workloads()
                    if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                           for k, v in sel.items())]
            if not pods:
                self.error(f"Service {svc['metadata']['name']}", "its selector matches no pods")
                continue
            names = {p.get("name") for w in pods
                     for c in w["spec"]["template"]["spec"]["containers"]
                     for p in c.get("ports", [])}
            for p in svc["spec"]["ports"]:
                if isinstance(p.get("targetPort"), str) and p["targetPort"] not in names:
                    self.error(f"Service {svc['metadata']['name']}",
                               f"targetPort {p['targetPort']} names no container port")
        pdbs = self.find("PodDisruptionBudget")
        if not pdbs:
            self.error("PodDisruptionBudget", "none for the web role")
        for pdb in pdbs:
            sel = pdb["spec"]["selector"].get("matchLabels", {})
            if not any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                           for k, v in sel.items()) for w in self.workloads()):
                self.error(f"PodDisruptionBudget {pdb['metadata']['name']}",
                           "its selector matches no pods")

    def check_kustomization(self):
        files = sorted(f for f in os.listdir(self.dir)
                       if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml")
        for k in self.find("Kustomization"):
            listed = k.get("resources", [])
            for f in listed:
                if f not in files:
                    self.error("kustomization.yaml", f"resource {f} does not exist")
            for f in files:
                if f not in listed:
                    self.error("kustomization.yaml", f"{f} is not listed in resources")

    # ---- 3. pemx check-config, per workload, in a scratch copy of the pod's mounts
    def check_config(self, pemx, toml_text_data):
        _, cm_data, secret_data = toml_text_data
        for w in self.workloads():
            pod = w["spec"]["template"]["spec"]
            c = pod["containers"][0]
            pod_name = w["metadata"]["name"] + ("-0" if w["kind"] == "StatefulSet"
                                                else "-5d8f7c9b4-x2kqz")
            with tempfile.TemporaryDirectory(prefix="pemx-k8s-") as root:
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                mounts = sorted(c.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
                for m in mounts:
                    target = root + m["mountPath"]
                    os.makedirs(target, exist_ok=True)
                    v = volumes.get(m["name"], {})
                    src, data = ((v["configMap"], cm_data) if "configMap" in v else
                                 (v["secret"], secret_data) if "secret" in v else (None, None))
                    if src is None:
                        continue
                    for item in src.get("items", [{"key": k, "path": k} for k in data]):
                        with open(os.path.join(target, item["path"]), "w") as f:
                            f.write(data.get(item["key"], ""))

                # One pass, longest mount first (a nested mount wins; nothing is moved twice).
                mount_re = re.compile(r"(?<![\w/.-])(" + "|".join(
                    re.escape(m["mountPath"]) for m in mounts) + r")(?=/|\"|$)")

                def rebase(text):
                    return mount_re.sub(lambda mm: root + mm.group(1), text) if mounts else text

                env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOSTNAME": pod_name}
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {})
                    if "value" in e:
                        env[e["name"]] = e["value"]
                    elif "configMapKeyRef" in ref:
                        env[e["name"]] = cm_data.get(ref["configMapKeyRef"]["key"], "")
                    elif "secretKeyRef" in ref:
                        env[e["name"]] = secret_data.get(ref["secretKeyRef"]["key"], "")
                    elif ref.get("fieldRef", {}).get("fieldPath") == "metadata.name":
                        env[e["name"]] = pod_name
                # pemx.toml with its paths moved under the scratch root
                for m in mounts:
                    cfg = os.path.join(root + m["mountPath"], "pemx.toml")
                    if os.path.exists(cfg):
                        with open(cfg) as f:
                            text = f.read()
                        with open(cfg, "w") as f:
                            f.write(rebase(text))
                args = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                               lambda mm: env.get(mm.group(1), mm.group(0)), a)
                        for a in c.get("args", [])]
                args = [rebase(a) for a in args]
                cmd = [pemx, "check-config"] + args
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
                where = f"{w['kind']} {w['metadata']['name']}: pemx check-config"
                if r.returncode != 0:
                    out = (r.stdout + r.stderr).replace(root, "")
                    self.error(where, f"exit {r.returncode}:\n{out}")
                else:
                    print(f"ok   {where} {' '.join(a.replace(root, '') for a in args)}")


# Broken copies of the manifests that must each fail (--self-test): file, text, replacement,
# a piece of the expected error. Proves the checks above can fail; keep one per kind of check.
MUTATIONS = [
    ("dist.yaml", "readinessProbe:", "readinesProbe:", "readinesProbe"),          # k8s schema
    ("dist.yaml", "runAsNonRoot: true\n            capabilities",
     "runAsNonRoot: 1\n            capabilities", "runAsNonRoot"),                # k8s type
    ("dist-scaledobject.yaml", "lagThreshold:", "lagTreshold:", "lagTreshold"),   # CRD schema
    ("dist-scaledobject.yaml", "maxReplicaCount: 12", "maxReplicaCount: 24", "exceeds"),
    ("dist-scaledobject.yaml", "consumerGroup: product-event-consumer-pemx",
     "consumerGroup: product-event-consumer", "group_id"),
    ("web.yaml", "terminationGracePeriodSeconds: 50", "terminationGracePeriodSeconds: 35",
     "drain_timeout"),
    ("web.yaml", "path: /readyz, port: http", "path: /readyz, port: 8081", "readinessProbe"),
    ("web.yaml", "drop: [\"ALL\"]", "drop: [\"NET_RAW\"]", "capabilities"),
    ("dist.yaml", "        fsGroup: 10001", "        fsGroup: 0", "defaultMode"),
    ("configmap.yaml", 'drain_timeout = "30s"', 'drain_timeout = "30 s"', "check-config"),
]


def self_test(directory, repo, version, pemx):
    import shutil
    failures = 0
    for name, old, new, expect in MUTATIONS:
        if expect == "check-config" and not pemx:
            continue
        with tempfile.TemporaryDirectory(prefix="pemx-k8s-mut-") as tmp:
            for f in os.listdir(directory):
                shutil.copy(os.path.join(directory, f), tmp)
            path = os.path.join(tmp, name)
            text = open(path, encoding="utf-8").read()
            if old not in text:
                print(f"FAIL self-test: {name} no longer contains {old!r}: update MUTATIONS")
                failures += 1
                continue
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new, 1))
            ch = Checker(tmp, version, repo)
            ch.load()
            ch.validate_schemas()
            data = ch.check_consistency() if not ch.errors else None
            if data is not None and pemx:
                import contextlib
                import io
                with contextlib.redirect_stdout(io.StringIO()):
                    ch.check_config(pemx, data)
            hit = [e for e in ch.errors if expect in e]
            if not hit:
                print(f"FAIL self-test: {name} with {new!r} passed; expected an error naming "
                      f"{expect!r} (got {ch.errors})")
                failures += 1
            else:
                print(f"ok   self-test: {name} with {new!r} refused: {hit[0].splitlines()[0]}")
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="the manifests' directory")
    p.add_argument("--repo", required=True, help="the repository's root (docs/deploying.md)")
    p.add_argument("--kubernetes-version", required=True)
    p.add_argument("--pemx", help="a pemx binary for check-config")
    p.add_argument("--self-test", action="store_true",
                   help="also check that broken copies of the manifests fail")
    a = p.parse_args()
    ch = Checker(a.dir, a.kubernetes_version, a.repo)
    ch.load()
    ch.validate_schemas()
    n_schema = len(ch.errors)
    data = ch.check_consistency() if not ch.errors else None
    if data is not None and a.pemx:
        ch.check_config(a.pemx, data)
    for e in ch.errors:
        print(f"FAIL {e}")
    kinds = sorted({f"{d['kind']}" for _, d in ch.docs if isinstance(d, dict) and "kind" in d})
    print(f"{len(ch.docs)} documents ({', '.join(kinds)}) against Kubernetes "
          f"{a.kubernetes_version}: {n_schema} schema errors, "
          f"{len(ch.errors) - n_schema} other errors")
    failures = 0
    if a.self_test and not ch.errors:  # a mutation of broken manifests would prove nothing
        failures = self_test(a.dir, a.repo, a.kubernetes_version, a.pemx)
    return 1 if ch.errors or failures else 0


if __name__ == "__main__":
    sys.exit(main())
