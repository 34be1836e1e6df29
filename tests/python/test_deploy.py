"""The deployment files in deploy/ (issue 16), checked offline:
- the Helm chart rendered (with `helm template` when helm is installed, else with the small renderer
  below, which handles exactly the template constructs the chart uses and fails on any other) and
  every object validated against Kubernetes' own schemas (kubernetes-validate, strict);
- the KServe ClusterServingRuntime and InferenceService checked field by field against the KServe
  Python SDK's generated models (its OpenAPI types), in a subprocess (its protobuf clashes with
  tritonclient's);
- the Dockerfile's runtime stage installs the Debian package of every shared library the berth
  binary links (ldd) outside the Swift runtime, runs as a non-root user and starts berth.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import berth_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "berth"
K8S_VERSION = "1.30.0"


def lookup(scope: dict, path: str):
    value = scope
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"template reads .{path}, which values.yaml does not define")
        value = value[part]
    return value


def render(template: str, values: dict, release: str = "berth-test") -> str:
    """A strict subset of Helm's templates: {{ .Values.x }}, {{ .Release.Name }}, {{ .Chart.Name }},
    `| quote`, {{- if .Values.x }}, {{- if eq .Values.x "v" }}, {{- else }}, {{- end }}."""
    scope = {"Values": values, "Release": {"Name": release}, "Chart": {"Name": "berth"}}
    out, stack = [], [True]
    for line in template.splitlines():
        directive = re.fullmatch(r"\s*\{\{-?\s*(if|else|end)\b(.*?)-?\}\}\s*", line)
        if directive:
            kind, arg = directive.group(1), directive.group(2).strip()
            if kind == "if":
                m = re.fullmatch(r'eq \.(\S+) "([^"]*)"', arg)
                cond = (str(lookup(scope, m.group(1))) == m.group(2)) if m else bool(lookup(scope, arg.lstrip(".")))
                stack.append(stack[-1] and cond)
            elif kind == "else":
                outer = all(stack[:-1])
                stack[-1] = outer and not stack[-1]
            else:
                stack.pop()
            continue
        if not stack[-1]:
            continue

        def sub(m):
            expr = m.group(1).strip()
            quote = expr.endswith("| quote")
            expr = expr.removesuffix("| quote").strip()
            if not expr.startswith("."):
                raise ValueError(f"unsupported template expression {{{{ {expr} }}}}")
            v = lookup(scope, expr[1:])
            return json.dumps(str(v)) if quote else str(v)
        if "{{" in line and not re.search(r"\{\{[^}]*\}\}", line):
            raise ValueError(f"unsupported template line: {line}")
        out.append(re.sub(r"\{\{-?\s*(.*?)\s*-?\}\}", sub, line))
    assert len(stack) == 1, "unbalanced if/end"
    return "\n".join(out)


def rendered_objects(overrides: dict) -> list[dict]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for k, v in overrides.items():
        values[k] = v
    if shutil.which("helm"):
        args = ["helm", "template", "berth-test", str(CHART)]
        for k, v in overrides.items():
            args += ["--set-json", f"{k}={json.dumps(v)}"]
        text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    else:
        text = "\n---\n".join(render(t.read_text(), values) for t in sorted((CHART / "templates").glob("*.yaml")))
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("overrides", [{}, {"mode": "registry"}, {"mode": "shared"}, {"alertRules": "rules: []", "insecureNoAuth": True},
                                       {"autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1,
                                                        "targetCPUUtilizationPercentage": 70}}])
def test_helm_chart_renders_objects_kubernetes_accepts(overrides):
    import kubernetes_validate
    objects = rendered_objects(overrides)
    kinds = sorted(o["kind"] for o in objects)
    for o in objects:
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)
    assert "Deployment" in kinds and "Service" in kinds
    dep = next(o for o in objects if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["securityContext"]["runAsNonRoot"] is True
    if overrides.get("mode") == "registry":
        assert dep["spec"]["replicas"] == 1 and "HorizontalPodAutoscaler" not in kinds and "--registry" in c["args"]
    elif overrides.get("mode") == "shared":
        env = {e["name"]: e["valueFrom"] for e in c["env"]}
        assert env["BERTH_REGISTRY_URL"]["secretKeyRef"] == {"name": "berth-db", "key": "url"}
        assert env["BERTH_REPLICA_ID"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert "--registry" in c["args"] and "HorizontalPodAutoscaler" in kinds and "PodDisruptionBudget" in kinds
        assert dep["spec"]["replicas"] == 2 and "strategy" not in dep["spec"]
    else:
        assert "PodDisruptionBudget" in kinds and any(a.startswith("--model-repository") for a in c["args"])
        assert ("HorizontalPodAutoscaler" in kinds) == overrides.get("autoscaling", {"enabled": True})["enabled"]
    assert ("--insecure-no-auth" in c["args"]) == bool(overrides.get("insecureNoAuth"))
    # Every flag the chart passes is one `berth serve` knows.
    help_text = subprocess.run([str(berth_path()), "serve", "--help"], capture_output=True, text=True).stdout
    for a in c["args"][1:]:
        assert a.split("=")[0] in help_text, a


def test_kserve_manifests_match_the_sdk_models():
    docs = [yaml.safe_load((REPO / "deploy" / "kserve" / f).read_text())
            for f in ("cluster-serving-runtime.yaml", "inference-service.yaml")]
    runtime = docs[0]
    assert runtime["spec"]["supportedModelFormats"][0] == {"name": "onnx", "version": "1", "autoSelect": True, "priority": 1}
    assert "v2" in runtime["spec"]["protocolVersions"]
    ann = runtime["spec"]["annotations"]
    assert ann["prometheus.kserve.io/port"] == "8080" and ann["prometheus.kserve.io/path"] == "/metrics"
    args = runtime["spec"]["containers"][0]["args"]
    assert "--model-repository=/mnt/models" in args and "--port=8080" in args
    help_text = subprocess.run([str(berth_path()), "serve", "--help"], capture_output=True, text=True).stdout
    for a in args[1:]:
        assert a.split("=")[0] in help_text, a
    checker = r'''
import json, re, sys
import kserve
from kserve import models

def check(value, type_name, path):
    type_name = type_name.strip()
    if type_name.lower().startswith("list["):
        assert isinstance(value, list), path
        for i, v in enumerate(value):
            check(v, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.startswith("dict(") or type_name.startswith("Dict["):
        assert isinstance(value, dict), path
        inner = type_name[5:-1].split(",", 1)[1]
        for k, v in value.items():
            check(v, inner, f"{path}.{k}")
        return
    if type_name.startswith("Optional["):
        return check(value, type_name[9:-1], path)
    basic = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if type_name in basic:
        assert isinstance(value, basic[type_name]), f"{path}: {value!r} is not {type_name}"
        return
    cls = getattr(models, type_name, None) or getattr(kserve, type_name, None)
    if cls is None:  # a Kubernetes type (V1Container ...): the kubernetes client's models
        import kubernetes.client as kc
        cls = getattr(kc, type_name)
    by_json = {j: p for p, j in cls.attribute_map.items()}
    assert isinstance(value, dict), f"{path}: expected an object for {type_name}"
    for key, v in value.items():
        assert key in by_json, f"{path}.{key}: not a field of {type_name} ({sorted(by_json)})"
        check(v, cls.openapi_types[by_json[key]], f"{path}.{key}")

docs = json.load(sys.stdin)
check(docs[0]["spec"], "V1alpha1ServingRuntimeSpec", "ClusterServingRuntime.spec")
check(docs[1]["spec"], "V1beta1InferenceServiceSpec", "InferenceService.spec")
print("ok")
'''
    p = subprocess.run([sys.executable, "-c", checker], input=json.dumps(docs), capture_output=True, text=True, timeout=300)
    if "No module named 'kserve'" in p.stderr:
        pytest.fail("the kserve SDK is missing from the venv (scripts/requirements.txt)")
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-3000:]


def test_dockerfile_runtime_stage_has_every_linked_library():
    text = (REPO / "deploy" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].startswith("swift:") and stages[1].startswith("debian:bookworm-slim")
    runtime = stages[1]
    packages = set(re.findall(r"\b(lib[\w.+-]+|zlib1g|ca-certificates)\b", runtime.split("rm -rf")[0]))
    user = re.search(r"^USER (\S+)", runtime, re.M).group(1)
    assert user.split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/berth"\]', runtime, re.M)
    assert "--static-swift-stdlib" in stages[0]
    # The libraries the binary links, outside the Swift runtime (static in the image's build).
    libs = []
    for line in subprocess.run(["ldd", str(berth_path())], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.search(r"=> (\S+)", line)
        if m and "/swift/" not in m.group(1):
            libs.append(Path(m.group(1)).resolve())
    base = {"libc6", "libgcc-s1"}  # in debian:bookworm-slim
    # What apt installs for the listed packages (their dependencies come along).
    closure = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                              "--no-breaks", "--no-replaces", "--no-enhances", *sorted(packages)],
                             capture_output=True, text=True).stdout
    installed = packages | {line.strip().split(":")[-1].strip() for line in closure.splitlines()}
    missing = []
    for lib in libs:
        pkg = ""
        for candidate in (str(lib), "/lib/" + str(lib).split("/lib/", 1)[-1], lib.name):
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True).stdout.split(":")[0].strip()
            if owner and not owner.endswith("-dev"):
                pkg = owner
                break
        if pkg and pkg not in base and pkg not in installed:
            missing.append((str(lib), pkg))
    assert not missing, f"the runtime stage lacks {missing}"
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ".build" in ignore and ".venv" in ignore
